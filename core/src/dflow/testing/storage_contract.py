"""A reusable pytest contract suite for :class:`dflow.storage.StorageClient` implementations.

Subclass :class:`StorageContract` in a test module, override the ``client`` fixture (a client
talking to a real server on loopback) and ``make_bad_client`` (or, when the store checks no
credentials, set ``test_wrong_credentials = None``)::

    from dflow.testing.storage_contract import StorageContract

    class TestMyStore(StorageContract):
        @pytest.fixture
        def client(self, my_server):
            return MyClient(endpoint=my_server.endpoint, ...)

        def make_bad_client(self, client):
            return MyClient(endpoint=..., secret_key="wrong")

Every test works under a fresh random prefix, so the client (and its server) may be shared by the
whole session. Class attributes tune the heavy cases: ``large_size`` (bytes of the streamed-file
test), ``max_memory_growth`` (allowed rise of resident memory during each call moving it, measured
per call by :class:`PeakGrowth`),
``paging_keys`` (number of keys of the listing test, above S3's page of 1000).

The artifact API tests (upload_artifact/download_artifact/copy_artifact) run on top of the same
client; see :class:`ArtifactContract`, which :class:`StorageContract` includes.
"""

from __future__ import annotations

import hashlib
import os
import threading
import tracemalloc
import uuid
from pathlib import Path

import pytest

from dflow.storage.client import StorageClient
from dflow.storage.errors import AccessDenied, NotFound, StorageError
from dflow.storage.transfer import md5_file, run_concurrently

from .artifact_contract import ArtifactContract

MiB = 1024 * 1024


def _write_large(path: Path, size: int) -> str:
    """Write ``size`` pseudo-random bytes in 1 MiB chunks (never all in memory); return md5."""
    digest = hashlib.md5()
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        written = 0
        i = 0
        while written < size:
            # vary each chunk so a store that dedups or mixes up parts is caught
            chunk = (i.to_bytes(8, "big") + block[8:])[: size - written]
            f.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            i += 1
    return digest.hexdigest()


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class PeakGrowth:
    """How far the process's resident memory rose above its level at the start of a block.

    The kernel's high-water mark (VmHWM) is reset when the block starts (Linux: ``5`` written
    to ``/proc/self/clear_refs``), so a spike earlier in the process cannot hide one here, as
    the process-lifetime peak (``ru_maxrss``) did. Where the reset is refused, Python's own
    allocations are traced instead (``tracemalloc``: misses memory held by C libraries).
    """

    def __init__(self) -> None:
        self.bytes = 0
        self._start = 0
        self._kernel = True  # else tracemalloc
        self._started_tracing = False

    def __enter__(self) -> PeakGrowth:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self._start = _status_kib("VmRSS") * 1024
        except OSError:
            self._kernel = False
            self._started_tracing = not tracemalloc.is_tracing()
            if self._started_tracing:
                tracemalloc.start()
            tracemalloc.reset_peak()
            self._start = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._kernel:
            self.bytes = _status_kib("VmHWM") * 1024 - self._start
            return
        self.bytes = tracemalloc.get_traced_memory()[1] - self._start
        if self._started_tracing:
            tracemalloc.stop()


class StorageContract(ArtifactContract):
    """Behaviour every storage client must have. Override ``client`` (and ``make_bad_client``)."""

    large_size: int = 64 * MiB
    max_memory_growth: int = 48 * MiB
    paging_keys: int = 1005

    @pytest.fixture
    def client(self) -> StorageClient:
        raise NotImplementedError("override the 'client' fixture in your StorageContract subclass")

    def make_bad_client(self, client: StorageClient) -> StorageClient | None:
        """A client for the same store with a wrong secret. A store (or a test server) that
        checks no credentials sets ``test_wrong_credentials = None`` instead."""
        return None

    @pytest.fixture
    def prefix(self) -> str:
        return f"contract-{uuid.uuid4().hex[:10]}/"

    # -- upload / download -------------------------------------------------------------
    def test_round_trip_binary(self, client, prefix, tmp_path):
        data = bytes(range(256)) * 4000 + os.urandom(1234)
        src = tmp_path / "src.bin"
        src.write_bytes(data)
        client.upload(prefix + "bin/data.bin", str(src))
        dest = tmp_path / "out" / "deep" / "data.bin"  # parents are created
        client.download(prefix + "bin/data.bin", str(dest))
        assert dest.read_bytes() == data

    def test_empty_file(self, client, prefix, tmp_path):
        src = tmp_path / "empty"
        src.write_bytes(b"")
        client.upload(prefix + "empty", str(src))
        dest = tmp_path / "got"
        client.download(prefix + "empty", str(dest))
        assert dest.exists() and dest.read_bytes() == b""
        assert client.list(prefix, recursive=True) == [prefix + "empty"]

    def test_nested_and_unicode_keys(self, client, prefix, tmp_path):
        keys = ["a/b/c/d/e.txt", "données/日本語 file (1).txt", "sp ace/+plus&amp=.txt"]
        for i, k in enumerate(keys):
            src = tmp_path / f"s{i}"
            src.write_text(f"content {k}", encoding="utf-8")
            client.upload(prefix + k, str(src))
        assert client.list(prefix, recursive=True) == sorted(prefix + k for k in keys)
        for i, k in enumerate(keys):
            dest = tmp_path / "out" / f"d{i}"
            client.download(prefix + k, str(dest))
            assert dest.read_text(encoding="utf-8") == f"content {k}"

    def test_overwrite(self, client, prefix, tmp_path):
        src = tmp_path / "f"
        src.write_text("first version, longer")
        client.upload(prefix + "f", str(src))
        src.write_text("second")
        client.upload(prefix + "f", str(src))
        dest = tmp_path / "g"
        client.download(prefix + "f", str(dest))
        assert dest.read_text() == "second"

    def test_download_missing_key(self, client, prefix, tmp_path):
        dest = tmp_path / "keep.txt"
        dest.write_text("untouched")
        with pytest.raises(NotFound) as info:
            client.download(prefix + "no/such/key.txt", str(dest))
        assert prefix + "no/such/key.txt" in str(info.value)
        assert dest.read_text() == "untouched"  # a failed download leaves no partial file
        assert sorted(os.listdir(tmp_path)) == ["keep.txt"]

    def test_upload_missing_local_path(self, client, prefix, tmp_path):
        missing = tmp_path / "not-there.txt"
        with pytest.raises(StorageError) as info:
            client.upload(prefix + "x", str(missing))
        assert "not-there.txt" in str(info.value)
        assert client.list(prefix, recursive=True) == []

    # -- list --------------------------------------------------------------------------
    def _put(self, client, tmp_path, keys):
        src = tmp_path / "tiny"
        src.write_text("x")
        run_concurrently(lambda k: client.upload(k, str(src)), keys, workers=16)

    def test_list(self, client, prefix, tmp_path):
        rels = ["a.txt", "b/c.txt", "b/d/e.txt", "bb.txt"]
        self._put(client, tmp_path, [prefix + r for r in rels])
        assert client.list(prefix) == [prefix + "a.txt", prefix + "b/", prefix + "bb.txt"]
        assert client.list(prefix, recursive=True) == sorted(prefix + r for r in rels)
        # a prefix is a string prefix, not a directory
        assert client.list(prefix + "b") == [prefix + "b/", prefix + "bb.txt"]
        assert client.list(prefix + "b", recursive=True) == [
            prefix + "b/c.txt",
            prefix + "b/d/e.txt",
            prefix + "bb.txt",
        ]
        assert client.list(prefix + "b/") == [prefix + "b/c.txt", prefix + "b/d/"]
        assert client.list(prefix + "nothing/") == []

    def test_list_pages_beyond_1000(self, client, prefix, tmp_path):
        keys = [f"{prefix}many/{i:05d}" for i in range(self.paging_keys)]
        self._put(client, tmp_path, keys)
        assert client.list(prefix + "many/", recursive=True) == keys
        assert client.list(prefix + "many/") == keys

    # -- copy, md5 ---------------------------------------------------------------------
    def test_copy(self, client, prefix, tmp_path):
        src = tmp_path / "f"
        src.write_bytes(b"copy me" * 1000)
        client.upload(prefix + "src/f", str(src))
        client.copy(prefix + "src/f", prefix + "dst/deeper/f2")
        dest = tmp_path / "out"
        client.download(prefix + "dst/deeper/f2", str(dest))
        assert dest.read_bytes() == b"copy me" * 1000
        assert client.list(prefix, recursive=True) == [prefix + "dst/deeper/f2", prefix + "src/f"]

    def test_copy_missing(self, client, prefix):
        with pytest.raises(NotFound) as info:
            client.copy(prefix + "missing", prefix + "dst")
        assert prefix + "missing" in str(info.value)

    def test_get_md5(self, client, prefix, tmp_path):
        data = os.urandom(100_000)
        src = tmp_path / "f"
        src.write_bytes(data)
        client.upload(prefix + "f", str(src))
        try:
            md5 = client.get_md5(prefix + "f")
        except NotImplementedError:
            pytest.skip(f"{type(client).__name__} does not provide get_md5")
        assert md5 == hashlib.md5(data).hexdigest()
        with pytest.raises(NotFound) as info:
            client.get_md5(prefix + "nope")
        assert prefix + "nope" in str(info.value)

    # -- scale -------------------------------------------------------------------------
    def test_large_file_streamed(self, client, prefix, tmp_path):
        src = tmp_path / "large.bin"
        md5 = _write_large(src, self.large_size)
        dest = tmp_path / "large.out"
        with PeakGrowth() as up:
            client.upload(prefix + "large.bin", str(src))
        with PeakGrowth() as down:
            client.download(prefix + "large.bin", str(dest))
        assert dest.stat().st_size == self.large_size
        assert md5_file(dest) == md5
        for what, growth in (("upload", up.bytes), ("download", down.bytes)):
            assert growth < self.max_memory_growth, f"{what}: memory grew {growth / MiB:.0f} MiB"
        try:
            assert client.get_md5(prefix + "large.bin") == md5
        except NotImplementedError:
            pass

    def test_open_read_streams_small_and_large_objects(self, client, prefix, tmp_path):
        small = tmp_path / "small.bin"
        small.write_bytes(b"abc" * 1000)
        client.upload(prefix + "small.bin", str(small))
        with client.open_read(prefix + "small.bin") as stream:
            assert stream.read() == b"abc" * 1000
        large = tmp_path / "large.bin"
        md5 = _write_large(large, self.large_size)
        client.upload(prefix + "large.bin", str(large))
        digest, total = hashlib.md5(usedforsecurity=False), 0
        with client.open_read(prefix + "large.bin") as stream:
            while chunk := stream.read(1_000_003):  # odd reads cross every range boundary
                digest.update(chunk)
                total += len(chunk)
        assert (total, digest.hexdigest()) == (self.large_size, md5)

    def test_open_read_missing_key(self, client, prefix):
        with pytest.raises(NotFound) as info, client.open_read(prefix + "no/such.tgz") as stream:
            stream.read()
        assert prefix + "no/such.tgz" in str(info.value)

    def test_open_write_streams_small_and_large_objects(self, client, prefix, tmp_path):
        with client.open_write(prefix + "w/small.txt") as out:
            out.write(b"hello ")
            out.write(memoryview(b"world"))
        with client.open_read(prefix + "w/small.txt") as stream:
            assert stream.read() == b"hello world"
        digest, total, i = hashlib.md5(usedforsecurity=False), 0, 0
        block = os.urandom(MiB)
        with PeakGrowth() as meter, client.open_write(prefix + "w/large.bin") as out:
            while total < self.large_size:  # uneven writes, each one different
                chunk = (i.to_bytes(8, "big") + block[8:])[: min(700_001, self.large_size - total)]
                out.write(chunk)
                digest.update(chunk)
                total += len(chunk)
                i += 1
        growth = meter.bytes
        dest = tmp_path / "large.out"
        client.download(prefix + "w/large.bin", str(dest))
        assert (dest.stat().st_size, md5_file(dest)) == (self.large_size, digest.hexdigest())
        assert growth < self.max_memory_growth, f"peak RSS grew by {growth / MiB:.0f} MiB"

    def test_open_write_stores_nothing_when_the_block_fails(self, client, prefix):
        for size in (10, self.large_size // 2):  # one PUT, and (for most stores) multipart
            with (
                pytest.raises(ZeroDivisionError),
                client.open_write(f"{prefix}w/broken{size}.bin") as out,
            ):
                out.write(os.urandom(size))
                1 / 0  # noqa: B018 - the caller's block fails half-way
        assert client.list(prefix + "w/", recursive=True) == []

    def test_optional_methods_keep_what_the_capabilities_promise(self, client, prefix, tmp_path):
        src = tmp_path / "owned.bin"
        src.write_bytes(b"owned")
        client.adopt(prefix + "o/owned.bin", str(src))  # the file is given up, moved or not
        new = tmp_path / "fresh" / "owned.bin"
        new.parent.mkdir()
        client.download_new(prefix + "o/owned.bin", str(new))
        assert new.read_bytes() == b"owned"
        direct = type(client).download_new is not StorageClient.download_new
        assert client.capabilities.direct_download == direct, "capabilities.direct_download"
        if client.capabilities.local_files:
            with open(client.local_path(prefix + "o/owned.bin"), "rb") as f:
                assert f.read() == b"owned"
        else:
            with pytest.raises(NotImplementedError, match="keeps objects remotely"):
                client.local_path(prefix + "o/owned.bin")
        assert client.store and isinstance(client.store, str)

    def test_concurrent_uploads(self, client, prefix, tmp_path):
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                src = tmp_path / f"c{i}"
                src.write_bytes(f"file {i}".encode() * (i + 1))
                client.upload(f"{prefix}conc/{i:02d}", str(src))
            except BaseException as exc:  # collected: a thread's error must fail the test
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert client.list(prefix + "conc/", recursive=True) == [
            f"{prefix}conc/{i:02d}" for i in range(24)
        ]
        for i in (0, 11, 23):
            dest = tmp_path / f"back{i}"
            client.download(f"{prefix}conc/{i:02d}", str(dest))
            assert dest.read_bytes() == f"file {i}".encode() * (i + 1)

    # -- credentials -------------------------------------------------------------------
    def test_wrong_credentials(self, client, prefix, tmp_path):
        bad = self.make_bad_client(client)
        assert bad is not None, (
            "make_bad_client() returned None: a store without credentials "
            "sets test_wrong_credentials = None in its contract class"
        )
        src = tmp_path / "f"
        src.write_text("x")
        with pytest.raises(AccessDenied) as info:
            bad.upload(prefix + "f", str(src))
        message = str(info.value)
        assert "secret" in message.lower() or "credential" in message.lower()
        with pytest.raises(AccessDenied):
            bad.list(prefix)

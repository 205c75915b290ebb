"""open_write: a resumable upload fed while the caller writes, CRC32C-checked, cancelled on error.

The client's HTTP session is hooked to watch (and, for the integrity tests, damage) the requests
the upload makes; the conftest client uses 1 MiB chunks and a 4 MiB resumable threshold.
"""

from __future__ import annotations

import base64
import os
import threading

import google_crc32c
import pytest
from dflow.storage import BucketMissing, IntegrityError, NotFound

MiB = 1024 * 1024


@pytest.fixture
def prefix(request):
    return f"{request.node.name[:40]}-{os.urandom(4).hex()}/"


class Wire:
    """Records the requests a client's HTTP session makes; ``damage`` may rewrite a body."""

    def __init__(self, client, monkeypatch, damage=None):
        self.session = client.bucket.client._http
        self.calls: list[tuple[str, str, dict, int]] = []  # method, url, headers, body size
        self.chunk_sent = threading.Event()  # a chunk of a resumable upload was accepted
        self.damage = damage
        monkeypatch.setattr(self.session, "request", self._request)

    def _request(self, method, url, data=None, headers=None, **kwargs):
        headers = dict(headers or {})
        if self.damage is not None and isinstance(data, bytes):
            data = self.damage(method, headers, data)
        resp = type(self.session).request(
            self.session, method, url, data=data, headers=headers, **kwargs
        )
        self.calls.append((method, url, headers, len(data) if isinstance(data, bytes) else 0))
        if (
            method == "PUT"
            and headers.get("content-range", "").endswith("/*")
            and resp.status_code == 308
        ):
            self.chunk_sent.set()
        return resp

    def sent(self) -> int:
        """Bytes of object data sent in resumable chunks so far."""
        return sum(
            size for method, _, h, size in self.calls if method == "PUT" and "content-range" in h
        )

    def puts(self) -> list[tuple[str, dict]]:
        return [(url, h) for method, url, h, _ in self.calls if method == "PUT"]


def _crc32c(data: bytes) -> str:
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def _read(client, key):
    with client.open_read(key) as stream:
        return stream.read()


def _flip(data: bytes, at: int) -> bytes:
    damaged = bytearray(data)
    damaged[at] ^= 0x01
    return bytes(damaged)


def test_chunks_go_out_while_the_caller_is_still_writing(make_client, monkeypatch, prefix):
    client = make_client()
    wire = Wire(client, monkeypatch)
    data = os.urandom(7 * MiB + 12345)
    with client.open_write(prefix + "big.bin") as out:
        out.write(data[: 3 * MiB])
        assert not wire.chunk_sent.is_set()  # below the resumable threshold: still held
        out.write(memoryview(data)[3 * MiB : 6 * MiB + 7])
        assert wire.chunk_sent.wait(30), "no chunk was sent while the block was running"
        # every full chunk is already out: only the partial one is held in memory
        assert wire.sent() == 6 * MiB
        out.write(bytearray(data[6 * MiB + 7 :]))
    assert _read(client, prefix + "big.bin") == data
    url, last = wire.puts()[-1]
    assert last["content-range"] == f"bytes {7 * MiB}-{len(data) - 1}/{len(data)}"
    assert last["x-goog-hash"] == f"crc32c={_crc32c(data)}"  # GCS checks it when finalizing
    assert all(u == url for u, _ in wire.puts())  # one session


@pytest.mark.parametrize("size", [0, 10, 4 * MiB - 1, 4 * MiB, 5 * MiB + 1])
def test_sizes_around_the_threshold_and_chunks(make_client, monkeypatch, prefix, size):
    client = make_client()
    wire = Wire(client, monkeypatch)
    data = os.urandom(size)
    with client.open_write(prefix + "f") as out:
        for i in range(0, size, 700_001):  # uneven writes across chunk boundaries
            out.write(data[i : i + 700_001])
    assert _read(client, prefix + "f") == data
    if size < 4 * MiB:  # one request from memory
        assert [m for m, *_ in wire.calls if m in ("POST", "PUT")] == ["POST"]
    else:
        assert wire.sent() == size


def test_failing_block_cancels_the_session_and_stores_nothing(make_client, monkeypatch, prefix):
    client = make_client()
    wire = Wire(client, monkeypatch)
    with (
        pytest.raises(KeyError, match="the caller's own error"),
        client.open_write(prefix + "broken.bin") as out,
    ):
        out.write(os.urandom(6 * MiB + 100))
        assert wire.chunk_sent.is_set()  # more than a chunk is already in the session
        raise KeyError("the caller's own error")
    session = wire.puts()[0][0]
    assert ("DELETE", session) in [(m, u) for m, u, *_ in wire.calls]  # the session is cancelled
    assert client.list(prefix, recursive=True) == []
    with pytest.raises(NotFound):
        _read(client, prefix + "broken.bin")


def test_crc32c_mismatch_in_a_chunk_is_refused(make_client, monkeypatch, prefix):
    client = make_client()

    def damage(method, headers, body):  # after the writer hashed it: one bit of chunk 2
        if headers.get("content-range", "").startswith(f"bytes {MiB}-"):
            return _flip(body, 1000)
        return body

    Wire(client, monkeypatch, damage)
    with pytest.raises(IntegrityError) as info, client.open_write(prefix + "bad.bin") as out:
        out.write(os.urandom(5 * MiB + 3))
    message = str(info.value)
    assert f"GCS upload of '{prefix}bad.bin' in bucket 'dflow-test'" in message
    assert "crc32c" in message and "the object was removed" in message
    assert client.list(prefix, recursive=True) == []


def test_crc32c_mismatch_in_a_one_request_upload_is_refused(make_client, monkeypatch, prefix):
    client = make_client()
    data = os.urandom(100_000)
    Wire(client, monkeypatch, lambda method, headers, body: body.replace(data, _flip(data, 5)))
    with pytest.raises(IntegrityError) as info, client.open_write(prefix + "bad.bin") as out:
        out.write(data)
    assert f"upload of '{prefix}bad.bin' in bucket 'dflow-test'" in str(info.value)
    assert client.list(prefix, recursive=True) == []


@pytest.mark.parametrize("size", [10, 5 * MiB])
def test_errors_name_the_key_and_the_store(make_client, prefix, size):
    client = make_client(bucket_name="no-such-bucket")
    with pytest.raises(BucketMissing) as info, client.open_write(prefix + "f") as out:
        out.write(os.urandom(size))  # the session is started (and refused) inside this write
    assert "GCS bucket 'no-such-bucket' at http://127.0.0.1:" in str(info.value)
    assert f"'{prefix}f'" in str(info.value)

"""``OSSClient.open_write``: multipart from memory against the OSS test server.

Parts go out while the caller writes, each CRC-64 checked; a failed block or a damaged part
leaves neither an object nor an open multipart upload (the server's ListMultipartUploads).
"""

from __future__ import annotations

import hashlib
import os
import threading

import pytest
from dflow.storage import IntegrityError, StorageError, download_artifact, upload_artifact
from dflow_storage_oss import OSSClient
from dflow_storage_oss import _stream_upload as stream_upload

MiB = 1024 * 1024


@pytest.fixture
def prefix(request):
    return f"{request.node.name[:40]}-{os.urandom(4).hex()}/"


@pytest.fixture
def client(make_client):
    """Parts of 1 MiB, multipart from 2 MiB, two parts in flight."""
    return make_client(multipart_threshold=2 * MiB, part_size=MiB, workers=2, retries=2)


def _open_uploads(client, key: str) -> list[str]:
    """The upload IDs the server lists as open for ``key``."""
    listing = client.bucket.list_multipart_uploads(prefix=key)
    return [u.upload_id for u in listing.upload_list if u.key == key]


def _record_parts(client, monkeypatch) -> tuple[list[tuple[int, int]], threading.Event]:
    """``(part number, size)`` of each part the client sent, and an Event set once one is stored."""
    sent: list[tuple[int, int]] = []
    stored = threading.Event()
    original = client.bucket.upload_part

    def upload_part(key, upload_id, number, data, *args, **kwargs):
        result = original(key, upload_id, number, data, *args, **kwargs)
        sent.append((number, len(data)))
        stored.set()
        return result

    monkeypatch.setattr(client.bucket, "upload_part", upload_part)
    return sent, stored


def _corrupt_parts(monkeypatch, count: int) -> list[str]:
    """Flip a byte in the body of the next ``count`` UploadPart requests, in requests' adapter:
    after the client computed the part's CRC, as a faulty network would deliver it."""
    import requests.adapters

    corrupted: list[str] = []
    lock = threading.Lock()
    original = requests.adapters.HTTPAdapter.send

    def send(self, request, *args, **kwargs):
        with lock:
            hit = (
                request.method == "PUT" and "partNumber=" in request.url and len(corrupted) < count
            )
            if hit:
                corrupted.append(request.url)
        if hit:
            body = bytearray(request.body)
            body[7] ^= 0xFF
            request.body = bytes(body)
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    return corrupted


def test_parts_go_out_while_the_caller_writes(client, prefix, monkeypatch):
    key = prefix + "big.bin"
    sent, stored = _record_parts(client, monkeypatch)
    data = os.urandom(9 * MiB + 5)
    with client.open_write(key) as out:
        for start in range(0, 4 * MiB, 256 * 1024):
            out.write(data[start : start + 256 * 1024])
        assert stored.wait(30), "no part was stored before the block ended: the object was held"
        [upload_id] = _open_uploads(client, key)  # the server has the upload and its parts
        assert client.bucket.list_parts(key, upload_id).parts
        out.write(memoryview(data)[4 * MiB :])
    assert out.closed
    head = client.bucket.head_object(key)
    assert head.object_type == "Multipart" and head.etag.endswith("-10")  # 9 parts of 1 MiB + 5 B
    assert sorted(sent) == [(n, MiB) for n in range(1, 10)] + [(10, 5)]
    with client.open_read(key) as stream:
        assert stream.read() == data
    assert _open_uploads(client, key) == []


@pytest.mark.parametrize("auth,lean", [("v1", True), ("v4", True), ("v1", False)])
def test_below_the_threshold_is_one_put_with_md5(make_client, prefix, monkeypatch, auth, lean):
    client = make_client(
        multipart_threshold=2 * MiB,
        part_size=MiB,
        auth_version=auth,
        region="cn-dflow-test",
        lean_requests=lean,
    )
    assert (client.lean is not None) is lean  # lean: the held part and the rest, sent unjoined
    key = prefix + "small.json"
    sent, _ = _record_parts(client, monkeypatch)
    data = os.urandom(2 * MiB - 1)
    with client.open_write(key) as out:
        out.write(data[:MiB])
        out.write(bytearray(data[MiB:]))
    assert sent == []
    head = client.bucket.head_object(key)
    assert head.object_type == "Normal"
    assert (
        client.get_md5(key) == head.headers["x-oss-meta-dflow-md5"] == hashlib.md5(data).hexdigest()
    )
    with client.open_read(key) as stream:
        assert stream.read() == data


def test_a_failing_block_aborts_the_upload(client, prefix):
    key = prefix + "aborted.bin"
    with pytest.raises(RuntimeError, match="simulation crashed"), client.open_write(key) as out:
        out.write(os.urandom(3 * MiB))  # past the threshold: a multipart upload is open
        assert _open_uploads(client, key)
        raise RuntimeError("simulation crashed")
    assert _open_uploads(client, key) == []
    assert client.list(prefix, recursive=True) == []
    with pytest.raises(ValueError, match="already finished"):
        out.write(b"late")


def test_a_part_corrupted_on_the_way_is_refused(client, prefix, monkeypatch):
    key = prefix + "corrupt.bin"
    corrupted = _corrupt_parts(monkeypatch, count=1000)  # every attempt at every part
    failed = threading.Event()
    send = stream_upload.StreamWriter._send

    def observed(self, number, part):
        try:
            return send(self, number, part)
        except BaseException:
            failed.set()  # after the writer recorded the error
            raise

    monkeypatch.setattr(stream_upload.StreamWriter, "_send", observed)
    with pytest.raises(IntegrityError) as info, client.open_write(key) as out:
        out.write(os.urandom(2 * MiB))  # two parts, both in flight
        assert failed.wait(30)
        out.write(b"more")  # the failed part stops the stream here, not only at the end
    message = str(info.value)
    assert f"OSS upload of '{key}' in bucket 'dflow-test' at http://127.0.0.1:" in message
    assert "CRC-64 of the data here is" in message and "does not match the checksum" in message
    assert len(corrupted) >= 2  # the part was sent again before giving up
    assert client.list(prefix, recursive=True) == []
    assert _open_uploads(client, key) == []


def test_a_part_corrupted_once_is_sent_again(client, prefix, monkeypatch):
    key = prefix + "retried.bin"
    corrupted = _corrupt_parts(monkeypatch, count=1)
    data = os.urandom(3 * MiB + 1)
    with client.open_write(key) as out:
        out.write(data)
    assert len(corrupted) == 1
    with client.open_read(key) as stream:
        assert stream.read() == data


def test_part_size_doubles_every_grow_every_parts(make_client, prefix, monkeypatch):
    step = 100 * 1024  # OSS's smallest part
    client = make_client(multipart_threshold=step, part_size=step, workers=2)
    monkeypatch.setattr(stream_upload.StreamWriter, "GROW_EVERY", 2)
    sent, _ = _record_parts(client, monkeypatch)
    data = os.urandom(14 * step + 3)
    with client.open_write(prefix + "grown.bin") as out:
        for start in range(0, len(data), 70_001):  # writes that straddle part boundaries
            out.write(data[start : start + 70_001])
    sizes = [size for _, size in sorted(sent)]
    assert sizes == [step, step, 2 * step, 2 * step, 4 * step, 4 * step, 3]
    with client.open_read(prefix + "grown.bin") as stream:
        assert stream.read() == data


def test_too_many_parts_fails_clearly(client, prefix, monkeypatch):
    monkeypatch.setattr(stream_upload.StreamWriter, "MAX_PARTS", 3)
    key = prefix + "huge.bin"
    with pytest.raises(StorageError) as info, client.open_write(key) as out:
        out.write(os.urandom(4 * MiB))
    assert f"upload of '{key}'" in str(info.value) and "more than 3 parts" in str(info.value)
    assert "part_size" in info.value.hint
    assert _open_uploads(client, key) == []
    assert client.list(prefix, recursive=True) == []


def test_a_tar_artifact_streams_into_oss(client, tmp_path, monkeypatch):
    def no_upload(*_args):
        raise AssertionError("the archive went through a local file and upload()")

    monkeypatch.setattr(OSSClient, "upload", no_upload)
    src = tmp_path / "run"
    (src / "traj").mkdir(parents=True)
    files = {f"traj/frame{i}.bin": os.urandom(200_000 + i) for i in range(20)}  # ~4 MiB: multipart
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    art = upload_artifact("run", archive="tar", storage_client=client)
    assert art.key.endswith(".tgz")
    assert client.bucket.head_object(art.key).object_type == "Multipart"
    out = tmp_path / "out"
    [got] = download_artifact(art, path=str(out), storage_client=client)
    assert got == str(out / "run")
    for rel, data in files.items():
        assert (out / "run" / rel).read_bytes() == data

"""``MinioClient.open_read``: parallel ranged GETs on a real SeaweedFS, checked against ETags."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest
from dflow.storage import IntegrityError, StorageError, download_artifact, upload_artifact

MiB = 1024 * 1024


def _upload(client, tmp_path, key: str, size: int) -> bytes:
    data = os.urandom(size)
    (tmp_path / "src.bin").write_bytes(data)
    client.upload(key, str(tmp_path / "src.bin"))
    return data


@pytest.mark.parametrize("size", [3 * MiB, 12 * MiB + 17], ids=["single-part", "multipart"])
def test_open_read_returns_the_object(bucket_client, tmp_path, size):
    data = _upload(bucket_client, tmp_path, f"stream/{size}.bin", size)
    with bucket_client.open_read(f"stream/{size}.bin") as stream:
        got = stream.read()
    assert hashlib.md5(got).hexdigest() == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("size", [3 * MiB, 12 * MiB + 17], ids=["single-part", "multipart"])
def test_a_corrupted_range_fails_the_read(bucket_client, tmp_path, monkeypatch, size):
    key = f"stream/corrupt-{size}.bin"
    _upload(bucket_client, tmp_path, key, size)
    real = type(bucket_client)._get_range

    def flip_one_byte(self, key, start, end):  # what a faulty network path would deliver
        data = bytearray(real(self, key, start, end))
        if start == 0:
            data[100] ^= 0xFF
        return bytes(data)

    monkeypatch.setattr(type(bucket_client), "_get_range", flip_one_byte)
    with pytest.raises(IntegrityError) as info, bucket_client.open_read(key) as stream:
        while stream.read(MiB):
            pass
    assert key in str(info.value) and "does not match ETag" in str(info.value)


def test_a_tar_artifact_streams_into_place(bucket_client, tmp_path, monkeypatch):
    src = tmp_path / "run"
    (src / "traj").mkdir(parents=True)
    files = {f"traj/frame{i}.bin": os.urandom(200_000 + i) for i in range(30)}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    art = upload_artifact("run", archive="tar", storage_client=bucket_client)
    assert art.key.endswith(".tgz")
    out = tmp_path / "out"
    [got] = download_artifact(art, path=str(out), storage_client=bucket_client)
    assert got == str(out / "run")
    for rel, data in files.items():
        assert (out / "run" / rel).read_bytes() == data
    # nothing but the artifact is left in the destination (no archive, no staging dirs)
    assert sorted(os.listdir(out)) == ["run"]


def test_a_corrupted_range_fails_a_large_download(bucket_client, tmp_path, monkeypatch):
    from dflow_storage_minio.lean import LeanS3

    key = "stream/large-corrupt.bin"
    _upload(bucket_client, tmp_path, key, 12 * MiB + 5)  # multipart: 5 MiB parts in conftest
    real_get = LeanS3.get

    def corrupting_get(self, bucket, key, handle, headers=None):
        if not (headers or {}).get("Range", "").startswith("bytes=0-"):
            return real_get(self, bucket, key, handle, headers)

        def flip_first_byte(resp):  # what a faulty network path would deliver
            read, first = resp.read, [True]

            def bad_read(n=-1):
                data = read(n)
                if first[0] and data:
                    first[0] = False
                    data = bytes([data[0] ^ 1]) + data[1:]
                return data

            resp.read = bad_read
            return handle(resp)

        return real_get(self, bucket, key, flip_first_byte, headers)

    monkeypatch.setattr(LeanS3, "get", corrupting_get)
    dest = tmp_path / "out" / "large.bin"
    with pytest.raises(IntegrityError) as info:
        bucket_client.download(key, str(dest))
    assert key in str(info.value) and "does not match ETag" in str(info.value)
    assert not dest.exists() and os.listdir(tmp_path / "out") == []  # nothing half-written left
    monkeypatch.undo()
    bucket_client.download(key, str(dest))
    assert dest.read_bytes() == (tmp_path / "src.bin").read_bytes()


def _open_uploads(client, key: str) -> list[str]:
    listing = client.s3.list_multipart_uploads(Bucket=client.bucket, Prefix=key)
    return [u["UploadId"] for u in listing.get("Uploads", [])]


def test_open_write_sends_parts_while_the_caller_writes(bucket_client, tmp_path):
    sent = threading.Event()
    bucket_client.s3.meta.events.register("before-call.s3.UploadPart", lambda **_: sent.set())
    data = os.urandom(20 * MiB + 5)
    with bucket_client.open_write("write/big.bin") as out:
        for start in range(0, 16 * MiB, MiB):
            out.write(data[start : start + MiB])
        assert sent.wait(30), "no part went out before the block ended: the object was held"
        out.write(data[16 * MiB :])
    head = bucket_client.s3.head_object(Bucket=bucket_client.bucket, Key="write/big.bin")
    assert head["ETag"].strip('"').endswith("-5")  # 4 parts of 5 MiB and the rest
    with bucket_client.open_read("write/big.bin") as stream:
        assert stream.read() == data


def test_open_write_aborts_the_upload_when_the_block_fails(bucket_client):
    with (
        pytest.raises(RuntimeError, match="simulation crashed"),
        bucket_client.open_write("write/aborted.bin") as out,
    ):
        out.write(os.urandom(12 * MiB))  # past the threshold: a multipart upload is open
        assert _open_uploads(bucket_client, "write/aborted.bin")
        raise RuntimeError("simulation crashed")
    assert _open_uploads(bucket_client, "write/aborted.bin") == []
    assert bucket_client.list("write/aborted", recursive=True) == []


def test_a_part_corrupted_on_the_way_is_refused(bucket_client):
    def corrupt(request, **_):  # after Content-MD5 was set: what a faulty network delivers
        body = request.body  # botocore hands the part over as a BytesIO
        start = body.tell()
        body.seek(start + 7)
        flipped = body.read(1)[0] ^ 0xFF
        body.seek(start + 7)
        body.write(bytes([flipped]))
        body.seek(start)

    bucket_client.s3.meta.events.register("request-created.s3.UploadPart", corrupt)
    with pytest.raises(StorageError) as info, bucket_client.open_write("write/corrupt.bin") as out:
        out.write(os.urandom(12 * MiB))
    assert "write/corrupt.bin" in str(info.value)
    assert "md5" in str(info.value).lower()  # the server said why
    assert bucket_client.list("write/corrupt", recursive=True) == []
    assert _open_uploads(bucket_client, "write/corrupt.bin") == []

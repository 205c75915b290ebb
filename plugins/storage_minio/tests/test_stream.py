"""``MinioClient.open_read``: parallel ranged GETs on a real SeaweedFS, checked against ETags."""

from __future__ import annotations

import hashlib
import os

import pytest
from dflow.storage import IntegrityError, download_artifact, upload_artifact

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

"""What a user sees when the store, the credentials or the input are wrong (real SeaweedFS)."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest
from dflow.config import s3_config
from dflow.storage import (
    AccessDenied,
    BucketMissing,
    NotFound,
    StorageError,
    Unreachable,
    download_artifact,
    upload_artifact,
)
from dflow.testing.ports import refused_port
from dflow_storage_minio import MinioClient

MiB = 1024 * 1024


def test_wrong_secret_is_a_clear_error(client_factory, bucket_client, tmp_path):
    bad = client_factory(bucket_client.bucket, secret_key="not-the-secret", max_attempts=1)
    src = tmp_path / "f"
    src.write_text("x")
    with pytest.raises(AccessDenied) as info:
        bad.upload("k/f", str(src))
    message = str(info.value)
    assert "upload of 'k/f' refused" in message
    assert "access_key/secret_key" in message
    assert bad.bucket in message and bad.url in message
    with pytest.raises(AccessDenied):
        bad.download("k/f", str(tmp_path / "g"))
    assert not (tmp_path / "g").exists()


def test_wrong_secret_on_multipart_upload(client_factory, bucket_client, tmp_path):
    bad = client_factory(
        bucket_client.bucket, secret_key="nope", max_attempts=1, multipart_threshold=5 * MiB
    )
    src = tmp_path / "big"
    src.write_bytes(os.urandom(6 * MiB))
    with pytest.raises(AccessDenied, match="wrong access_key/secret_key"):
        bad.upload("k/big", str(src))


def test_missing_bucket(client_factory, tmp_path):
    client = client_factory(f"absent-{uuid.uuid4().hex[:8]}")
    src = tmp_path / "f"
    src.write_text("x")
    with pytest.raises(BucketMissing) as info:
        client.upload("k", str(src))
    assert f"bucket '{client.bucket}' does not exist" in str(info.value)
    assert "create the bucket" in str(info.value)
    with pytest.raises(BucketMissing):
        client.download("k", str(tmp_path / "out"))


def test_unreachable_endpoint(tmp_path):
    with refused_port() as port:
        client = MinioClient(
            endpoint=f"127.0.0.1:{port}",
            access_key="a",
            secret_key="b",
            bucket_name="bkt",
            max_attempts=1,
            connect_timeout=1,
        )
        with pytest.raises(Unreachable) as info:
            client.list("any/")
        assert f"127.0.0.1:{port}" in str(info.value)
        assert "server is running" in str(info.value)


def test_missing_key_and_bad_local_paths(bucket_client, tmp_path):
    with pytest.raises(NotFound, match="no object 'no/such/key'"):
        bucket_client.download("no/such/key", str(tmp_path / "x"))
    with pytest.raises(NotFound, match="is a directory, not a file"):
        bucket_client.upload("k", str(tmp_path))
    with pytest.raises(NotFound, match="no such file or directory: .*absent"):
        upload_artifact([str(tmp_path / "absent")], storage_client=bucket_client)


def test_aborted_multipart_leaves_no_object(client_factory, bucket_client, tmp_path):
    client = client_factory(
        bucket_client.bucket,
        multipart_threshold=5 * MiB,
        multipart_chunksize=5 * MiB,
        max_concurrency=2,
    )
    src = tmp_path / "big"
    src.write_bytes(os.urandom(12 * MiB))
    key = f"aborted-{uuid.uuid4().hex[:8]}/big"
    sent = []

    def fail_midway(n: int) -> None:
        sent.append(n)
        if sum(sent) > 3 * MiB:
            raise RuntimeError("connection dropped by the test")

    with pytest.raises(Exception, match="connection dropped by the test"):
        client.upload(key, str(src), progress=fail_midway)
    assert client.list(key.split("/")[0] + "/", recursive=True) == []
    uploads = client.s3.list_multipart_uploads(Bucket=client.bucket).get("Uploads", [])
    assert [u for u in uploads if u["Key"] == key] == []


def test_multipart_md5_and_etag(client_factory, bucket_client, tmp_path):
    client = client_factory(
        bucket_client.bucket, multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB
    )
    data = os.urandom(11 * MiB + 3)
    src = tmp_path / "big"
    src.write_bytes(data)
    key = f"mp-{uuid.uuid4().hex[:8]}"
    client.upload(key, str(src))
    etag = client.s3.head_object(Bucket=client.bucket, Key=key)["ETag"].strip('"')
    assert etag.endswith("-3")  # really multipart: the ETag is not the MD5
    assert client.get_md5(key) == hashlib.md5(data).hexdigest()
    client.copy(key, key + "-copy")
    assert client.get_md5(key + "-copy") == hashlib.md5(data).hexdigest()


def test_connection_settings_follow_s3_config(seaweedfs, bucket_client, monkeypatch, tmp_path):
    monkeypatch.setitem(s3_config, "endpoint", seaweedfs.endpoint)
    monkeypatch.setitem(s3_config, "access_key", seaweedfs.access_key)
    monkeypatch.setitem(s3_config, "secret_key", seaweedfs.secret_key)
    monkeypatch.setitem(s3_config, "bucket_name", bucket_client.bucket)
    client = MinioClient()  # everything from s3_config
    (tmp_path / "a.txt").write_text("via s3_config")
    monkeypatch.chdir(tmp_path)
    art = upload_artifact("a.txt", storage_client=client)
    assert art.to_dict() == {"key": art.key, "path_list": art.path_list}
    assert download_artifact(art, path="out", storage_client=client) == ["out/a.txt"]
    assert (tmp_path / "out" / "a.txt").read_text() == "via s3_config"
    monkeypatch.setitem(s3_config, "bucket_name", "elsewhere-bucket")
    with pytest.raises(StorageError, match="elsewhere-bucket"):
        client.list("x")

"""``upload_checksum = "crc32"``: one-request uploads carry ``x-amz-checksum-crc32`` (real SeaweedFS)."""

from __future__ import annotations

import os
import uuid

import pytest
from dflow.config import ConfigError
from dflow_storage_minio import MinioConfig
from dflow_storage_minio.client import checksum_headers

SIZES = [0, 1, 300_000, 9 * 1024 * 1024]  # empty, tiny, inline, streamed from the file


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "boto3"])
def test_crc32_uploads_round_trip(client_factory, bucket_client, tmp_path, lean):
    client = client_factory(bucket_client.bucket, upload_checksum="crc32", lean_requests=lean)
    base = f"crc-{uuid.uuid4().hex[:6]}/"
    for size in SIZES:
        data = os.urandom(size)
        src = tmp_path / f"s{size}"
        src.write_bytes(data)
        client.upload(base + str(size), str(src))
        client.download(base + str(size), str(tmp_path / f"o{size}"))
        assert (tmp_path / f"o{size}").read_bytes() == data
        assert client.get_md5(base + str(size)) == checksum_headers("md5", data)[1]


def test_the_server_refuses_a_body_whose_crc32_differs(bucket_client):
    # what the option relies on: SeaweedFS checks the header (a corrupted body is refused)
    lean = bucket_client.lean
    assert lean is not None
    headers, _ = checksum_headers("crc32", b"the body that was hashed")
    key = f"crc-bad-{uuid.uuid4().hex[:6]}"
    with pytest.raises(Exception) as info:
        lean.put(bucket_client.bucket, key, b"the body that arrived!!!", 24, headers)
    assert "checksum" in str(info.value).lower() or "BadDigest" in str(info.value)
    assert bucket_client.list(key) == []


def test_unknown_checksum_kind_is_refused():
    with pytest.raises((ValueError, ConfigError)) as info:
        MinioConfig(upload_checksum="sha1")
    assert "upload_checksum" in str(info.value)


def test_the_crc32_is_what_the_upload_sent(client_factory, bucket_client, tmp_path):
    # the server keeps the checksum it verified: the object was sent with a CRC-32, not an MD5
    client = client_factory(bucket_client.bucket, upload_checksum="crc32")
    data = os.urandom(1000)
    (tmp_path / "f").write_bytes(data)
    key = f"crc-kept-{uuid.uuid4().hex[:6]}"
    client.upload(key, str(tmp_path / "f"))
    head = bucket_client.s3.head_object(
        Bucket=bucket_client.bucket, Key=key, ChecksumMode="ENABLED"
    )
    assert head.get("ChecksumCRC32") == checksum_headers("crc32", data)[0]["x-amz-checksum-crc32"]

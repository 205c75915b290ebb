"""The lean PUT/GET path for small objects and staged tree downloads (real SeaweedFS)."""

from __future__ import annotations

import os
import socket
import uuid

import pytest
from dflow.storage import NotFound, Unreachable, download_s3, upload_s3
from dflow.storage.objects import fetch_objects
from dflow.testing.ports import refused_port
from dflow_storage_minio import MinioClient

AWKWARD = ["a b/c+d.txt", "ünï/cödé ✓", "p%20q/r~s=t&u", "x/(1)[2]{3};,'!@$"]


def test_awkward_keys_agree_with_boto3(bucket_client, tmp_path):
    assert bucket_client.lean is not None  # the default path for small objects
    s3, bucket = bucket_client.s3, bucket_client.bucket
    base = f"awk-{uuid.uuid4().hex[:6]}/"
    for i, key in enumerate(AWKWARD):
        src = tmp_path / f"src{i}"
        src.write_bytes(f"content {i} of {key}".encode())
        bucket_client.upload(base + key, str(src))
        # what the lean PUT stored is what boto3 reads under the same key
        assert s3.get_object(Bucket=bucket, Key=base + key)["Body"].read() == src.read_bytes()
        s3.put_object(Bucket=bucket, Key=base + key + ".boto", Body=b"from boto3 " + key.encode())
        bucket_client.download(base + key + ".boto", str(tmp_path / f"out{i}"))
        assert (tmp_path / f"out{i}").read_bytes() == b"from boto3 " + key.encode()
    assert bucket_client.list(base, recursive=True) == sorted(
        [base + k for k in AWKWARD] + [base + k + ".boto" for k in AWKWARD]
    )


def test_empty_and_binary_objects(bucket_client, tmp_path):
    for name, data in [("empty", b""), ("bin", os.urandom(300_000))]:
        src = tmp_path / name
        src.write_bytes(data)
        key = f"lean-{uuid.uuid4().hex[:6]}/{name}"
        bucket_client.upload(key, str(src))
        bucket_client.download(key, str(tmp_path / f"{name}.out"))
        assert (tmp_path / f"{name}.out").read_bytes() == data


def test_boto3_only_when_lean_requests_is_off(client_factory, bucket_client, tmp_path):
    client = client_factory(bucket_client.bucket, lean_requests=False)
    assert client.lean is None
    src = tmp_path / "f"
    src.write_text("via boto3")
    client.upload("boto-only/f", str(src))
    client.download("boto-only/f", str(tmp_path / "g"))
    assert (tmp_path / "g").read_text() == "via boto3"


def test_connection_closed_by_the_server_is_replaced(bucket_client, tmp_path):
    src = tmp_path / "f"
    src.write_text("keep-alive")
    key = f"stale-{uuid.uuid4().hex[:6]}"
    bucket_client.upload(key, str(src))
    lean = bucket_client.lean
    idle = [c for conns in lean._idle.values() for c in conns]
    assert idle, "the connection went back to the pool"
    for conn in idle:  # what an idle timeout on the server side looks like to the client
        conn.sock.shutdown(socket.SHUT_RDWR)
    bucket_client.download(key, str(tmp_path / "g"))
    assert (tmp_path / "g").read_text() == "keep-alive"


def test_unreachable_endpoint_on_the_lean_path(tmp_path):
    with refused_port() as port:
        client = MinioClient(
            endpoint=f"127.0.0.1:{port}",
            access_key="a",
            secret_key="b",
            bucket_name="bkt",
            max_attempts=2,
            connect_timeout=1,
        )
        src = tmp_path / "f"
        src.write_text("x")
        with pytest.raises(Unreachable, match=f"127.0.0.1:{port}"):
            client.upload("k", str(src))
        with pytest.raises(Unreachable):
            client.download("k", str(tmp_path / "g"))
        assert not (tmp_path / "g").exists()


def test_tree_download_lands_in_one_piece(bucket_client, tmp_path):
    src = tmp_path / "tree"
    for i in range(30):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"f{i}").write_text(str(i))
    (src / "empty").mkdir()
    key = upload_s3(str(src), key=f"tree-{uuid.uuid4().hex[:6]}", storage_client=bucket_client)
    out = tmp_path / "out" / "deep"
    download_s3(key, path=str(out), storage_client=bucket_client)
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    want = sorted(p.relative_to(src).as_posix() for p in src.rglob("*"))
    assert got == want
    assert (out / "d1" / "f7").read_text() == "7"
    assert os.listdir(tmp_path / "out") == ["deep"]  # no staging directory left behind
    # into an existing directory: the new subdirectories are staged, the old file kept
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "keep.txt").write_text("mine")
    download_s3(key, path=str(tmp_path / "again"), storage_client=bucket_client)
    assert sorted(os.listdir(tmp_path / "again")) == ["d0", "d1", "d2", "empty", "keep.txt"]


def test_failed_tree_download_leaves_nothing(bucket_client, tmp_path):
    src = tmp_path / "f"
    src.write_text("x")
    base = f"fail-{uuid.uuid4().hex[:6]}"
    bucket_client.upload(f"{base}/a", str(src))
    dest = tmp_path / "out"
    pairs = [(f"{base}/a", str(dest / "sub" / "a")), (f"{base}/missing", str(dest / "sub" / "b"))]
    with pytest.raises(NotFound, match="missing"):
        fetch_objects(bucket_client, pairs)
    assert os.listdir(tmp_path) == ["f"]

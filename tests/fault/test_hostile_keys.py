"""Hostile object keys: a key with ``..`` segments is never joined to a download destination.

SeaweedFS (the real S3 server we run) refuses to store such keys (and names over NAME_MAX),
so the attack is played on the OSS test server, which keeps them as Aliyun OSS and AWS S3 do.
Every download path refuses them by the one rule, :func:`dflow.storage.paths.local_path_under`.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from dflow.storage import S3Artifact, StorageError, download_artifact, download_s3

pytestmark = pytest.mark.fault

HOSTILE = ("x/../../../escaped.txt", "../escaped.txt", "x/..")


def _downloads(client, prefix: str, dest: Path):
    yield lambda: download_artifact(S3Artifact(key=prefix), path=str(dest), storage_client=client)
    yield lambda: download_s3(prefix, path=str(dest), storage_client=client)


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def seaweed(seaweedfs):
    """A fresh bucket on the session's SeaweedFS (tests/conftest.py)."""
    pytest.importorskip("dflow_storage_minio")
    from dflow_storage_minio import MinioClient

    client = MinioClient(
        endpoint=seaweedfs.endpoint,
        secure=False,
        bucket_name=f"dflow-{uuid.uuid4().hex[:8]}",
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
    )
    client.create_bucket()
    return client


@pytest.fixture(scope="module")
def oss(oss_server, tmp_path_factory):
    from dflow_storage_oss import OSSClient

    return OSSClient(
        endpoint=oss_server.endpoint,
        bucket_name=oss_server.bucket,
        access_key_id=oss_server.access_key,
        access_key_secret=oss_server.secret_key,
        prefix="",
        checkpoint_dir=str(tmp_path_factory.mktemp("ckpt")),
    )


def test_seaweedfs_itself_refuses_to_store_a_dot_dot_key(seaweed):
    # why the attack below runs on the OSS test server: this real server cannot hold one
    for rel in HOSTILE:
        with pytest.raises(Exception, match="InvalidRequest|Invalid Request"):
            seaweed.put_data(f"p/{rel}", b"no")


@pytest.mark.parametrize("rel", HOSTILE)
def test_a_tree_with_a_dot_dot_key_is_refused_by_every_download(oss, tmp_path, rel):
    prefix = f"art-{uuid.uuid4().hex[:6]}"
    (tmp_path / "data").write_bytes(b"escaped")
    for key in (f"{prefix}/ok.txt", f"{prefix}/{rel}"):
        oss.upload(key, str(tmp_path / "data"))
    (tmp_path / "data").unlink()
    assert f"{prefix}/{rel}" in oss.list(prefix + "/", recursive=True)  # kept as written
    dest = tmp_path / "a" / "b" / "dest"
    dest.mkdir(parents=True)
    for download in _downloads(oss, prefix, dest):
        with pytest.raises(StorageError, match=f"object key '{prefix}/{rel}'.*'\\.\\.'"):
            download()
    assert _files_under(tmp_path) == []

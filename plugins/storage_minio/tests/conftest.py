"""A SeaweedFS server for the whole session (started in ~1 s, stopped by PID)."""

from __future__ import annotations

import uuid

import pytest
from dflow.testing.seaweedfs import start_seaweedfs
from dflow_storage_minio import MinioClient

MiB = 1024 * 1024


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


def make_client(server, bucket: str, **settings) -> MinioClient:
    # small parts so that the contract's large file exercises multipart and ranged GETs
    settings.setdefault("multipart_threshold", 8 * MiB)
    settings.setdefault("multipart_chunksize", 5 * MiB)
    settings.setdefault("max_concurrency", 4)
    settings.setdefault("access_key", server.access_key)
    settings.setdefault("secret_key", server.secret_key)
    return MinioClient(endpoint=server.endpoint, secure=False, bucket_name=bucket, **settings)


@pytest.fixture(scope="session")
def client_factory(seaweedfs):
    """``client_factory(bucket, **settings)``: a MinioClient for the session's server."""
    return lambda bucket, **settings: make_client(seaweedfs, bucket, **settings)


@pytest.fixture(scope="session")
def bucket_client(seaweedfs) -> MinioClient:
    client = make_client(seaweedfs, f"dflow-{uuid.uuid4().hex[:8]}")
    client.create_bucket()
    return client

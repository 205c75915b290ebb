"""The storage contract suite against a real SeaweedFS (signatures checked, multipart, copy)."""

from __future__ import annotations

import pytest
from dflow.testing.storage_contract import StorageContract


class TestMinioOnSeaweedFS(StorageContract):
    # 5 MiB parts x 4 in flight: well under the 48 MiB the contract allows for 64 MiB
    @pytest.fixture
    def client(self, bucket_client):
        return bucket_client

    def make_bad_client(self, client):
        server_endpoint = client.config.endpoint
        return type(client)(
            endpoint=server_endpoint,
            access_key=client.config.access_key,
            secret_key="wrong-secret",
            secure=False,
            bucket_name=client.bucket,
            max_attempts=1,
        )

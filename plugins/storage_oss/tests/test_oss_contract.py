"""The storage contract suite against the OSS test server, with V1 and V4 signatures."""

from __future__ import annotations

import pytest
from dflow.testing.storage_contract import StorageContract


class TestOSSContract(StorageContract):
    """Multipart thresholds are lowered (conftest) so the large-file test goes through parts."""

    @pytest.fixture(params=["v1", "v4"])
    def client(self, request, make_client):
        return make_client(auth_version=request.param, region="cn-dflow-test")

    def make_bad_client(self, client):
        return type(client)(config=client.config, access_key_secret="not-the-secret")

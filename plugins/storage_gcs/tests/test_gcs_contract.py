"""The storage contract suite against gcp-storage-emulator (a real GCS JSON-API server)."""

from __future__ import annotations

import pytest
from dflow.testing.storage_contract import StorageContract


class TestGCSContract(StorageContract):
    """The resumable threshold is lowered (conftest) so the large file goes up in chunks."""

    # the emulator keeps objects in its own process; the client must still stream
    @pytest.fixture
    def client(self, make_client):
        return make_client()

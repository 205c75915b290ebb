"""The storage contract suite against gcp-storage-emulator (a real GCS JSON-API server)."""

from __future__ import annotations

import pytest
from dflow.testing.storage_contract import StorageContract


class TestGCSContract(StorageContract):
    """The resumable threshold is lowered (conftest) so the large file goes up in chunks."""

    # the emulator accepts any token, so a wrong one cannot be refused here; the error
    # translation for 401/403 is tested in test_gcs_errors.py
    test_wrong_credentials = None

    # the emulator keeps objects in its own process; the client must still stream
    @pytest.fixture
    def client(self, make_client):
        return make_client()

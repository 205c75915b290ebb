"""The storage contract suite against the local filesystem store."""

from __future__ import annotations

import pytest
from dflow.storage import LocalStorageClient
from dflow.testing.storage_contract import StorageContract


class TestLocalStorageContract(StorageContract):
    test_wrong_credentials = None  # a directory has no credentials to get wrong

    @pytest.fixture
    def client(self, tmp_path):
        return LocalStorageClient(tmp_path / "store")

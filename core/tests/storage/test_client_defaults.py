"""StorageClient's optional methods: declared with defaults, capabilities as a record."""

from __future__ import annotations

import os

import pytest
from dflow.storage import LocalStorageClient, StorageCapabilities, StorageClient
from dflow.storage.objects import fetch_objects


class Minimal(StorageClient):
    """Only the four required methods, over a LocalStorageClient (a third-party client)."""

    def __init__(self, root: str) -> None:
        self.inner = LocalStorageClient(root)

    def upload(self, key: str, path: str) -> None:
        self.inner.upload(key, path)

    def download(self, key: str, path: str) -> None:
        self.inner.download(key, path)

    def list(self, prefix: str, recursive: bool = False) -> list[str]:
        return self.inner.list(prefix, recursive)

    def copy(self, src: str, dst: str) -> None:
        self.inner.copy(src, dst)


def test_a_client_with_only_the_required_methods_stores_and_fetches(tmp_path):
    client = Minimal(str(tmp_path / "store"))
    assert client.capabilities == StorageCapabilities()
    with client.open_write("a/x.txt") as f:  # default adopt: an upload
        f.write(b"x")
    with client.open_write("a/y.txt") as f:
        f.write(b"y")
    pairs = [(k, str(tmp_path / "out" / os.path.basename(k))) for k in client.list("a/", True)]
    fetch_objects(client, pairs)  # no direct downloads: one download per file
    assert sorted(os.listdir(tmp_path / "out")) == ["x.txt", "y.txt"]
    assert (tmp_path / "out" / "y.txt").read_bytes() == b"y"
    with pytest.raises(NotImplementedError, match="Minimal keeps objects remotely"):
        client.local_path("a/x.txt")


def test_the_local_store_declares_local_files_and_moves_owned_files_in(tmp_path):
    client = LocalStorageClient(str(tmp_path / "store"))
    assert client.capabilities.local_files and not client.capabilities.direct_download
    made = tmp_path / "made.txt"
    made.write_text("mine")
    client.adopt("k/made.txt", str(made))
    assert not made.exists()  # moved, not copied
    assert open(client.local_path("k/made.txt")).read() == "mine"
    assert client.store == f"local store {tmp_path / 'store'}"

"""LocalStorageClient specifics beyond the contract: paths, atomicity, key checks."""

from __future__ import annotations

import os

import pytest
from dflow.storage import LocalStorageClient, LocalStorageConfig, StorageError


def test_local_path_and_layout(tmp_path):
    client = LocalStorageClient.from_config(LocalStorageConfig(root=str(tmp_path / "s")))
    src = tmp_path / "f.txt"
    src.write_text("hello")
    client.upload("upload/abc/f.txt", str(src))
    assert client.local_path("upload/abc/f.txt") == str(tmp_path / "s" / "upload" / "abc" / "f.txt")
    assert (tmp_path / "s" / "upload" / "abc" / "f.txt").read_text() == "hello"


def test_upload_is_a_snapshot(tmp_path):
    client = LocalStorageClient(tmp_path / "s")
    src = tmp_path / "f.txt"
    src.write_text("v1")
    client.upload("k", str(src))
    with open(src, "w") as f:  # in-place rewrite of the same inode
        f.write("v2")
    assert open(client.local_path("k")).read() == "v1"


def test_copy_does_not_alias_later_overwrites(tmp_path):
    client = LocalStorageClient(tmp_path / "s")
    src = tmp_path / "f.txt"
    src.write_text("v1")
    client.upload("a", str(src))
    client.copy("a", "b")
    src.write_text("v2")
    client.upload("a", str(src))  # replaces 'a' by rename: 'b' keeps v1
    assert open(client.local_path("b")).read() == "v1"
    assert open(client.local_path("a")).read() == "v2"


def test_adopt_moves_file(tmp_path):
    client = LocalStorageClient(tmp_path / "s")
    src = tmp_path / "made.tgz"
    src.write_bytes(b"tar")
    client.adopt("upload/x.tgz", str(src))
    assert not src.exists()
    assert client.list("upload/") == ["upload/x.tgz"]


def test_no_temporary_files_left(tmp_path):
    client = LocalStorageClient(tmp_path / "s")
    src = tmp_path / "f"
    src.write_text("x")
    for _ in range(3):
        client.upload("d/f", str(src))
        client.copy("d/f", "d/g")
    assert sorted(os.listdir(tmp_path / "s" / "d")) == ["f", "g"]


@pytest.mark.parametrize("key", ["", "/", "a/../b", "a//b", "./a"])
def test_invalid_keys(tmp_path, key):
    client = LocalStorageClient(tmp_path / "s")
    src = tmp_path / "f"
    src.write_text("x")
    with pytest.raises(StorageError, match="invalid key"):
        client.upload(key, str(src))


def test_object_and_prefix_clash(tmp_path):
    client = LocalStorageClient(tmp_path / "s")
    src = tmp_path / "f"
    src.write_text("x")
    client.upload("a", str(src))
    with pytest.raises(StorageError, match="'a' is an object, not a prefix"):
        client.upload("a/b", str(src))
    client.upload("b/c", str(src))
    with pytest.raises(StorageError, match="prefix 'b/' already holds objects"):
        client.upload("b", str(src))


def test_upload_directory_is_an_error(tmp_path):
    client = LocalStorageClient(tmp_path / "s")
    with pytest.raises(StorageError, match="is a directory, not a file"):
        client.upload("k", str(tmp_path))

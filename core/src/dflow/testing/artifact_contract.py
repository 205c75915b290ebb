"""Artifact API tests run on top of a storage client (part of :class:`StorageContract`).

Each test works in a fresh current directory (``work``) because uploads mirror paths relative
to it, and downloads into ``out``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from dflow.config import s3_config
from dflow.storage import (
    NotFound,
    S3Artifact,
    catalog_of_artifact,
    copy_artifact,
    download_artifact,
    path_list_of_artifact,
    path_object_of_artifact,
    upload_artifact,
)

ARCHIVES = pytest.mark.parametrize("archive", ["tar", None], ids=["tar", "none"])


def _tree(root: Path) -> dict[str, str | None]:
    """relpath -> content (None for a dir) of everything under root."""
    out: dict[str, str | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = Path(p).read_text()
    return out


class ArtifactContract:
    """upload_artifact / download_artifact / copy_artifact against the ``client`` fixture."""

    @pytest.fixture
    def work(self, tmp_path, monkeypatch) -> Path:
        """A current directory with ``foo.txt``, ``d/a.txt``, ``d/sub/b.txt``, ``d/empty/``."""
        work = tmp_path / "work"
        (work / "d" / "sub").mkdir(parents=True)
        (work / "d" / "empty").mkdir()
        (work / "foo.txt").write_text("foo")
        (work / "d" / "a.txt").write_text("a")
        (work / "d" / "sub" / "b.txt").write_text("b")
        monkeypatch.chdir(work)
        return work

    @ARCHIVES
    def test_artifact_file(self, client, work, tmp_path, archive):
        art = upload_artifact("foo.txt", archive=archive, storage_client=client)
        assert art.key and art.key.startswith("upload/")
        assert art.key.endswith(".tgz") == (archive == "tar")
        out = tmp_path / "out"
        assert download_artifact(art, path=str(out), storage_client=client) == [
            str(out / "foo.txt")
        ]
        assert _tree(out) == {"foo.txt": "foo"}  # the catalog is removed

    @ARCHIVES
    def test_artifact_dir_keeps_empty_dirs(self, client, work, tmp_path, archive):
        art = upload_artifact("d", archive=archive, storage_client=client)
        out = tmp_path / "out"
        assert download_artifact(art, path=str(out), storage_client=client) == [str(out / "d")]
        assert _tree(out) == {
            "d": None,
            "d/a.txt": "a",
            "d/sub": None,
            "d/sub/b.txt": "b",
            "d/empty": None,
        }

    @ARCHIVES
    def test_artifact_list_and_dict(self, client, work, tmp_path, archive):
        art = upload_artifact(["d/sub", "foo.txt"], archive=archive, storage_client=client)
        out = tmp_path / "out"
        got = download_artifact(art, path=str(out), storage_client=client)
        assert got == [str(out / "d" / "sub"), str(out / "foo.txt")]
        art = upload_artifact(
            {"x": "foo.txt", "y": {"z": "d/a.txt"}}, archive=archive, storage_client=client
        )
        out2 = tmp_path / "out2"
        got = download_artifact(art, path=str(out2), storage_client=client)
        assert got == {"x": str(out2 / "foo.txt"), "y": {"z": str(out2 / "d" / "a.txt")}}
        assert path_object_of_artifact(art, storage_client=client) == {
            "x": "foo.txt",
            "y": {"z": "d/a.txt"},
        }

    def test_artifact_outside_cwd_uses_absolute_path(self, client, work, tmp_path):
        outside = tmp_path / "elsewhere" / "f.txt"
        outside.parent.mkdir()
        outside.write_text("far")
        art = upload_artifact(str(outside), archive=None, storage_client=client)
        out = tmp_path / "out"
        rel = str(outside).lstrip("/")
        assert download_artifact(art, path=str(out), storage_client=client) == [str(out / rel)]
        assert (out / rel).read_text() == "far"

    @ARCHIVES
    def test_upload_is_a_snapshot(self, client, work, tmp_path, archive):
        art = upload_artifact("foo.txt", archive=archive, storage_client=client)
        with open("foo.txt", "w") as f:  # in place, same inode
            f.write("changed")
        out = tmp_path / "out"
        download_artifact(art, path=str(out), storage_client=client)
        assert (out / "foo.txt").read_text() == "foo"

    @ARCHIVES
    def test_sub_path(self, client, work, tmp_path, archive):
        art = upload_artifact(["d", "foo.txt"], archive=archive, storage_client=client)
        out = tmp_path / "out"
        got = download_artifact(art.sub_path("d/sub"), path=str(out), storage_client=client)
        assert got == [str(out / "d" / "sub")]
        assert _tree(out) == {"d": None, "d/sub": None, "d/sub/b.txt": "b"}
        out2 = tmp_path / "out2"
        got = download_artifact(art, sub_path="foo.txt", path=str(out2), storage_client=client)
        assert got == str(out2 / "foo.txt")  # pydflow returns the one path, not a list
        assert _tree(out2) == {"foo.txt": "foo"}

    @ARCHIVES
    def test_slice(self, client, work, tmp_path, archive):
        for i in range(3):
            Path(f"f{i}.txt").write_text(str(i))
        art = upload_artifact(
            ["f0.txt", "f1.txt", "f2.txt"], archive=archive, storage_client=client
        )
        out = tmp_path / "out"
        assert download_artifact(art, slice=1, path=str(out), storage_client=client) == str(
            out / "f1.txt"
        )
        assert _tree(out) == {"f1.txt": "1"}
        out2 = tmp_path / "out2"
        assert download_artifact(art[2], path=str(out2), storage_client=client) == [
            str(out2 / "f2.txt")
        ]
        items = catalog_of_artifact(art, storage_client=client)
        assert [(it["dflow_list_item"], it["order"]) for it in items] == [
            ("f0.txt", 0),
            ("f1.txt", 1),
            ("f2.txt", 2),
        ]
        assert path_list_of_artifact(art, storage_client=client) == ["f0.txt", "f1.txt", "f2.txt"]

    def test_keep_catalog_and_no_extract(self, client, work, tmp_path):
        art = upload_artifact(["foo.txt"], archive=None, storage_client=client)
        out = tmp_path / "out"
        download_artifact(art, path=str(out), remove_catalog=False, storage_client=client)
        assert len(os.listdir(out / ".dflow")) == 1
        tar = upload_artifact(["foo.txt"], archive="tar", storage_client=client)
        got = download_artifact(tar, extract=False, path=str(out), storage_client=client)
        assert tar.key and got == [str(out / os.path.basename(tar.key))]
        assert got[0].endswith(".tgz")

    @ARCHIVES
    def test_copy_artifact(self, client, work, tmp_path, archive):
        art = upload_artifact(["d"], archive=archive, storage_client=client)
        dst = f"copies/{uuid.uuid4().hex}/x" + (".tgz" if archive else "")
        copied = copy_artifact(art, dst, storage_client=client)
        assert copied.key == dst
        out = tmp_path / "out"
        assert download_artifact(copied, path=str(out), storage_client=client) == [str(out / "d")]
        assert (out / "d" / "sub" / "b.txt").read_text() == "b"

    def test_copy_artifact_sorted_appends(self, client, work, tmp_path):
        first = upload_artifact(["foo.txt", "d/a.txt"], archive=None, storage_client=client)
        second = upload_artifact(["d/sub/b.txt"], archive=None, storage_client=client)
        dst = f"copies/{uuid.uuid4().hex}/merged"
        copy_artifact(first, dst, sort=True, storage_client=client)
        copy_artifact(second, dst, sort=True, storage_client=client)
        out = tmp_path / "out"
        assert download_artifact(S3Artifact(key=dst), path=str(out), storage_client=client) == [
            str(out / "foo.txt"),
            str(out / "d" / "a.txt"),
            str(out / "d" / "sub" / "b.txt"),
        ]

    def test_missing_paths_and_keys(self, client, work, tmp_path):
        with pytest.raises(NotFound, match="nope.txt"):
            upload_artifact(["foo.txt", "nope.txt"], storage_client=client)
        with pytest.raises(NotFound, match="upload/no-such-key"):
            download_artifact(
                S3Artifact(key="upload/no-such-key"),
                path=str(tmp_path / "o"),
                storage_client=client,
            )
        with pytest.raises(ValueError, match="archive must be"):
            upload_artifact("foo.txt", archive="zip", storage_client=client)

    def test_prefix_and_no_credentials_in_dict(self, client, work, monkeypatch):
        monkeypatch.setitem(s3_config, "prefix", "team/")
        monkeypatch.setitem(s3_config, "secret_key", "s3cr3t-value")
        art = upload_artifact("foo.txt", archive=None, storage_client=client)
        assert art.key and art.key.startswith("team/upload/")
        assert S3Artifact(key=art.key).key == art.key  # not prefixed twice
        data = art.to_dict()
        assert "s3cr3t-value" not in repr(data) and "secret_key" not in data
        assert S3Artifact.from_dict(data) == art

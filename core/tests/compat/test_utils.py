"""``dflow.utils`` behaves as pydflow's on real inputs.

Expected values were taken by running the same calls with pydflow 1.8.134 side by side (its
own venv; the storage ones against the same SeaweedFS bucket); where pydflow is wrong
(``.tgz`` catalogs read as empty, ``prefix`` listing matching sibling keys) the test says so.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest
from dflow import upload_artifact
from dflow.storage import LocalStorageClient
from dflow.utils import (
    CommandError,
    TempDir,
    Variable,
    append_item,
    assemble_path_object,
    assemble_path_object_from_catalog,
    catalog_of_artifact,
    catalog_of_local_artifact,
    convert_dflow_list,
    copy_file,
    copy_s3,
    dict2list,
    download_artifact,
    download_s3,
    evalable_repr,
    expand,
    flatten,
    get_key,
    get_md5,
    linktree,
    merge_dir,
    path_list_of_artifact,
    path_object_of_artifact,
    randstr,
    remove_empty_dir_tag,
    run_command,
    set_directory,
    set_key,
    subclass_or_none,
    upload_s3,
)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# -- pure helpers --------------------------------------------------------------------------------

NESTED = {"a": [1, {"b": 2, "c": [3, 4]}], "d": {"e": None}}


def test_flatten_expand_dict2list():
    assert flatten(NESTED) == {"a.0": 1, "a.1.b": 2, "a.1.c.0": 3, "a.1.c.1": 4, "d.e": None}
    assert flatten([1, [2, 3], {"x": 4}]) == {"0": 1, "1.0": 2, "1.1": 3, "2.x": 4}
    assert expand(flatten(NESTED)) == NESTED
    assert expand({"0": "a", "2": "c", "x.1": 5}) == {"0": "a", "2": "c", "x": [None, 5]}
    assert dict2list({"0": "a", "1": {"0": 1, "1": 2}}) == ["a", [1, 2]]
    assert dict2list({"0": "a", "b": 1}) == {"0": "a", "b": 1}
    assert dict2list({}) == []


def test_catalog_items():
    items = [{"dflow_list_item": "b", "order": 1}, {"dflow_list_item": "a", "order": 0}]
    assert convert_dflow_list(list(items)) == ["a", "b"]
    catalog = [{"dflow_list_item": None, "order": 0}]
    for item in (
        {"dflow_list_item": "x", "order": 0},
        {"dflow_list_item": "y", "order": 1},
        {"dflow_list_item": "y", "order": 1},
        {"dflow_list_item": None, "order": 1},
    ):
        append_item(catalog, item)
    assert catalog == [{"dflow_list_item": "x", "order": 0}, {"dflow_list_item": "y", "order": 1}]
    assert assemble_path_object_from_catalog(list(items), "/root") == ["/root/a", "/root/b"]
    nested = [
        {"dflow_list_item": "p", "order": "x.y"},
        {"dflow_list_item": "q", "order": "x.z"},
        {"dflow_list_item": "r", "order": "w"},
    ]
    assert assemble_path_object_from_catalog(nested, "/r") == {
        "x": {"y": "/r/p", "z": "/r/q"},
        "w": "/r/r",
    }
    assert assemble_path_object_from_catalog(
        [{"dflow_list_item": "p", "order": "0"}, {"dflow_list_item": "q", "order": "1"}]
    ) == ["p", "q"]
    assert assemble_path_object_from_catalog([]) == []


def test_local_catalogs_and_empty_dir_tags(tmp_path):
    art = tmp_path / "art"
    (art / ".dflow").mkdir(parents=True)
    (art / "sub").mkdir()
    (art / ".dflow" / "c1").write_text(
        json.dumps({"path_list": [{"dflow_list_item": "sub/f", "order": 1}]})
    )
    (art / ".dflow" / "c2").write_text(
        json.dumps({"path_list": [{"dflow_list_item": "g", "order": 0}]})
    )
    (art / "sub" / ".empty_dir").write_text("")
    assert sorted(catalog_of_local_artifact(art), key=lambda i: i["order"]) == [
        {"dflow_list_item": "g", "order": 0},
        {"dflow_list_item": "sub/f", "order": 1},
    ]
    assert assemble_path_object(art) == [f"{art}/g", f"{art}/sub/f"]
    assert catalog_of_local_artifact(tmp_path / "nope") == []
    remove_empty_dir_tag(art)
    assert not (art / "sub" / ".empty_dir").exists()
    assert len(assemble_path_object(art, remove=True)) == 2
    assert not (art / ".dflow").exists()


def test_set_directory(tmp_path):
    here = os.getcwd()
    with set_directory(tmp_path / "new" / "dir", mkdir=True) as path:
        assert isinstance(path, Path) and path == tmp_path / "new" / "dir"
        assert os.getcwd() == str(path)
    assert os.getcwd() == here
    with pytest.raises(FileNotFoundError), set_directory(tmp_path / "missing"):
        pass
    assert os.getcwd() == here


def test_run_command_return_shape_and_errors(tmp_path):
    assert run_command("echo hello world") == (0, "hello world\n", "")
    assert run_command(["echo", 1, 2]) == (0, "1 2\n", "")
    assert run_command("echo $((1+2)) | tr 3 x", shell=True) == (0, "x\n", "")
    assert run_command("cat", input="abc\n") == (0, "abc\n", "")
    assert run_command("sh -c 'echo o; echo e >&2; exit 4'", raise_error=False, shell=True) == (
        4,
        "o\n",
        "e\n",
    )
    with pytest.raises(AssertionError) as err:  # pydflow raised AssertionError
        run_command("false")
    assert isinstance(err.value, CommandError) and "exit code 1" in str(err.value)
    with pytest.raises(FileNotFoundError):
        run_command("no-such-command-xyz")
    assert run_command("echo $0", try_bash=True) == (0, "bash\n", "")
    env = {"FOO": "bar", "PATH": os.environ["PATH"]}
    assert run_command("echo $FOO", shell=True, env=env) == (0, "bar\n", "")


def test_run_command_streams_output_while_collecting_it(capfd):
    out, err = io.StringIO(), io.StringIO()
    script = ["sh", "-c", "echo a; echo b >&2; echo c"]
    assert run_command(script, stdout=out, stderr=err) == (0, "a\nc\n", "b\n")
    assert (out.getvalue(), err.getvalue()) == ("a\nc\n", "b\n")
    assert run_command(["sh", "-c", "echo x; echo y >&2"], print_oe=True) == (0, "x\n", "y\n")
    printed = capfd.readouterr()
    assert "x" in printed.out and "y" in printed.err


def test_file_helpers(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "x").write_text("1")
    (src / "y").write_text("2")
    copy_file(str(src), str(tmp_path / "dst" / "deep"))
    copy_file(str(src / "y"), str(tmp_path / "dst2" / "a" / "b" / "y"))
    assert _files(tmp_path / "dst") == ["deep/d/x", "deep/y"]
    assert (tmp_path / "dst2" / "a" / "b" / "y").read_text() == "2"
    assert os.stat(src / "y").st_nlink == 3  # hard links, as pydflow's try_link makes
    with pytest.raises(FileNotFoundError):
        copy_file(str(tmp_path / "zzz"), str(tmp_path / "q"))
    (tmp_path / "m1" / "a").mkdir(parents=True)
    (tmp_path / "m1" / "a" / "f").write_text("new")
    (tmp_path / "m2" / "a").mkdir(parents=True)
    (tmp_path / "m2" / "a" / "f").write_text("old")
    (tmp_path / "m2" / "a" / "g").write_text("g")
    merge_dir(str(tmp_path / "m1"), str(tmp_path / "m2"))
    assert (tmp_path / "m2" / "a" / "f").read_text() == "new"
    assert not (tmp_path / "m1" / "a" / "f").exists()
    assert sorted(os.listdir(tmp_path / "m2" / "a")) == ["f", "g"]
    (tmp_path / "l1" / "a").mkdir(parents=True)
    (tmp_path / "l1" / "a" / "f").write_text("n")
    (tmp_path / "l2").mkdir()
    linktree(str(tmp_path / "l1"), str(tmp_path / "l2"))
    linktree(str(tmp_path / "l1"), str(tmp_path / "l2"))  # again: links are replaced
    assert os.readlink(tmp_path / "l2" / "a" / "f") == str(tmp_path / "l1" / "a" / "f")
    assert not os.path.islink(tmp_path / "l2" / "a")
    (tmp_path / "md5").write_bytes(b"hello")
    assert get_md5(tmp_path / "md5") == "5d41402abc4b2a76b9719d911017c592"


def test_small_helpers():
    assert len(randstr()) == 5 and len(randstr(8)) == 8
    assert set(randstr(50)) <= set("abcdefghijklmnopqrstuvwxyz0123456789")
    import random

    random.seed(42)  # as DPDispatcher does on each submission: ids must still differ
    first = randstr(10)
    random.seed(42)
    assert randstr(10) != first

    class A:
        pass

    class B(A):
        pass

    assert subclass_or_none(B, A) is B and subclass_or_none(A, A) is None
    assert subclass_or_none(B(), A) is B and subclass_or_none(1, A) is None
    imports: set = set()
    assert evalable_repr([1, "a", None, {"k": {2, 3}}, set(), Variable("x+1")], imports) == (
        "[1, 'a', None, {'k': {2, 3}}, set(), x+1]"
    )
    assert imports == set()
    text = evalable_repr(Path("p"), imports)
    assert text.startswith("jsonpickle.loads(") and imports == {(None, "jsonpickle")}
    with TempDir() as tmp:
        os.chmod(tmp, 0o755)
    assert get_key({"s3": {"key": "a/b"}}) == "a/b" and get_key({"x": 1}, raise_error=False) is None
    with pytest.raises(FileNotFoundError):
        get_key({"x": 1})
    art = {"s3": {"key": "old"}}
    set_key(art, "new")
    assert art == {"s3": {"key": "new"}}


# -- storage, with the local store (the S3 ones ran against SeaweedFS side by side) -------------


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs("d/e")
    Path("a.txt").write_text("A")
    Path("d/b.txt").write_text("B")
    Path("d/e/c.txt").write_text("C")
    return LocalStorageClient(tmp_path / "store")


def test_upload_s3_and_download_s3_as_pydflow(store, tmp_path):
    assert upload_s3("a.txt", key="t/file/a.txt", storage_client=store) == "t/file/a.txt"
    assert upload_s3("d", key="t/dir", storage_client=store) == "t/dir"
    assert upload_s3("a.txt", prefix="t/pre", storage_client=store) == "t/pre/a.txt"
    assert upload_s3("a.txt", prefix="t/pre2/", storage_client=store) == "t/pre2/a.txt"
    key = upload_s3("a.txt", storage_client=store)
    assert key.startswith("upload/") and key.endswith("/a.txt")
    copy_s3("t/dir", "t/dircopy", storage_client=store)
    for name, args, kw, files in [
        ("f", ("t/file/a.txt",), {}, ["a.txt"]),
        ("d", ("t/dir",), {}, ["b.txt", "e/c.txt"]),  # pydflow also took in t/dircopy/...
        ("d2", ("t/dir/",), {}, ["b.txt", "e/c.txt"]),
        ("k", ("t/dir",), {"keep_dir": True}, ["dir/b.txt", "dir/e/c.txt"]),
        ("c", ("t/dircopy",), {}, ["b.txt", "e/c.txt"]),
    ]:
        out = tmp_path / "out" / name
        assert download_s3(*args, path=str(out), storage_client=store, **kw) == str(out)
        assert _files(out) == files, name
    out = tmp_path / "out" / "nonrec"
    got = download_s3("t/file/a.txt", path=str(out), recursive=False, storage_client=store)
    assert got == str(out / "a.txt") and _files(out) == ["a.txt"]


def test_download_s3_skip_exists_keeps_only_identical_files(store, tmp_path):
    upload_s3("d", key="t/dir", storage_client=store)
    out = tmp_path / "out"
    (out / "e").mkdir(parents=True)
    (out / "b.txt").write_text("stale")  # differs: downloaded again
    (out / "e" / "c.txt").write_text("C")  # same MD5: left alone
    mtime = os.stat(out / "e" / "c.txt").st_mtime_ns
    download_s3("t/dir", path=str(out), skip_exists=True, storage_client=store)
    assert (out / "b.txt").read_text() == "B"
    assert os.stat(out / "e" / "c.txt").st_mtime_ns == mtime


@pytest.mark.parametrize("archive", [None, "tar"])
def test_catalogs_and_path_lists_of_stored_artifacts(store, archive):
    art = upload_artifact(["a.txt", "d/b.txt"], archive=archive, storage_client=store)
    # pydflow read no catalog inside a .tgz (it returned []); we read it
    assert catalog_of_artifact(art, storage_client=store) == [
        {"dflow_list_item": "a.txt", "order": 0},
        {"dflow_list_item": "d/b.txt", "order": 1},
    ]
    assert path_list_of_artifact(art, storage_client=store) == ["a.txt", "d/b.txt"]
    assert path_object_of_artifact(art, storage_client=store) == ["a.txt", "d/b.txt"]
    nested = upload_artifact(
        {"x": "a.txt", "y": {"z": "d/e/c.txt"}}, archive=archive, storage_client=store
    )
    assert path_object_of_artifact(nested, storage_client=store) == {
        "x": "a.txt",
        "y": {"z": "d/e/c.txt"},
    }


@pytest.mark.parametrize("archive", [None, "tar"])
def test_download_artifact_returns_the_one_path_of_a_slice_or_sub_path(store, tmp_path, archive):
    art = upload_artifact(["a.txt", "d"], archive=archive, storage_client=store)
    for i, (kw, rel, files) in enumerate(
        [
            ({"slice": 0}, "a.txt", ["a.txt"]),
            ({"slice": 1}, "d", ["d/b.txt", "d/e/c.txt"]),
            ({"sub_path": "d"}, "d", ["d/b.txt", "d/e/c.txt"]),
            ({"sub_path": "d/e/c.txt"}, "d/e/c.txt", ["d/e/c.txt"]),
        ]
    ):
        out = tmp_path / f"out{i}"
        assert download_artifact(art, path=str(out), storage_client=store, **kw) == str(out / rel)
        assert _files(out) == files
    out = tmp_path / "all"
    assert download_artifact(art, path=str(out), storage_client=store) == [
        str(out / "a.txt"),
        str(out / "d"),
    ]


def test_minio_client_is_the_plugins(monkeypatch):
    monkeypatch.setitem(sys.modules, "dflow_storage_minio", None)
    import dflow.utils

    with pytest.raises(
        ImportError, match="needs the dflow-storage-minio plugin: pip install dflow-storage-minio"
    ):
        dflow.utils.MinioClient  # noqa: B018

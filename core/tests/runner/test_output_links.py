"""How ``run_op`` puts returned files into an output artifact: the OP's own files (in its
working directory) are hard-linked, as pydflow does; files it does not own are copied."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from dflow import catalog
from dflow.python.op import OP
from dflow.python.opio import OPIO, Artifact, OPIOSign
from dflow.runner import run_op


class Returns(OP):
    """Writes ``made.txt`` (mode 0750) and ``tree/a.txt``, links ``alias`` to ``made.txt``,
    and returns what ``which`` names."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"which": str, "inp": Artifact(Path, optional=True)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"out": Artifact(Path)})

    @OP.exec_sign_check
    def execute(self, op_in):
        Path("made.txt").write_text("made")
        os.chmod("made.txt", 0o750)
        Path("tree").mkdir()
        Path("tree/a.txt").write_text("a")
        Path("tree/empty").mkdir()
        os.symlink(os.path.abspath("made.txt"), "alias")
        which = op_in["which"]
        return OPIO(out=op_in["inp"] / "given.txt" if which == "input" else Path(which))


def _run(root: Path, which: str, workdir: Path | None = None) -> Path:
    (root / "in/parameters").mkdir(parents=True)
    (root / "in/parameters/which").write_text(which)
    given = root / "in/artifacts/inp"
    given.mkdir(parents=True)
    (given / "given.txt").write_text("given")
    workdir = workdir or root / "wd"
    workdir.mkdir(parents=True, exist_ok=True)
    res = run_op(Returns, inputs_dir=root / "in", outputs_dir=root / "out", workdir=workdir)
    assert res.ok, res.message
    return root / "out/artifacts/out"


def test_an_ops_own_file_is_hard_linked(tmp_path):
    art = _run(tmp_path, "made.txt")
    made, out = tmp_path / "wd/made.txt", art / "made.txt"
    assert out.read_text() == "made"
    assert os.stat(out).st_ino == os.stat(made).st_ino  # no copy: one inode, two names
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o750
    assert catalog.path_object(art) == out


def test_a_returned_dir_is_linked_file_by_file_and_keeps_its_empty_dirs(tmp_path):
    art = _run(tmp_path, "tree")
    assert (art / "tree/a.txt").read_text() == "a"
    assert os.stat(art / "tree/a.txt").st_ino == os.stat(tmp_path / "wd/tree/a.txt").st_ino
    assert (art / "tree/empty" / catalog.EMPTY_DIR_MARKER).is_file()


def test_a_file_from_an_input_artifact_is_copied(tmp_path):
    art = _run(tmp_path, "input")
    out = art / "given.txt"
    assert out.read_text() == "given"
    assert os.stat(out).st_ino != os.stat(tmp_path / "in/artifacts/inp/given.txt").st_ino


def test_a_file_in_a_dir_whose_name_extends_the_workdirs_is_not_the_ops_own(tmp_path):
    """``wd2/x.txt`` is not under ``wd``: its place is its absolute path, and it is copied."""
    (tmp_path / "wd2").mkdir()
    beside = tmp_path / "wd2/x.txt"
    beside.write_text("x")
    art = _run(tmp_path, str(beside))
    out = art / str(beside).lstrip("/")
    assert out.read_text() == "x"
    assert os.stat(out).st_ino != os.stat(beside).st_ino


def test_a_symlink_in_the_workdir_is_copied_not_linked_to_its_target(tmp_path):
    art = _run(tmp_path, "alias")
    out = art / "alias"
    assert out.read_text() == "made"
    assert not out.is_symlink()
    assert os.stat(out).st_ino != os.stat(tmp_path / "wd/made.txt").st_ino


def test_a_workdir_on_another_file_system_is_copied(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a file system other than the temp dir's")
    with tempfile.TemporaryDirectory(dir=shm) as wd:
        art = _run(tmp_path, "made.txt", workdir=Path(wd))
        out = art / "made.txt"
        assert out.read_text() == "made"
        assert os.stat(out).st_dev != os.stat(Path(wd) / "made.txt").st_dev
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o750

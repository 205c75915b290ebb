"""A sliced input artifact's catalog, read by every slice of a fan-out: parsed once per catalog
(not once per slice, which made a fan-out over a sliced artifact quadratic), each slice still
getting its own item, and a catalog that changes read again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from dflow import catalog
from dflow.python.op import OP
from dflow.python.opio import OPIO, Artifact, OPIOSign
from dflow.python.slices import Slices
from dflow.runner import run_op

N = 1000


class Read(OP):
    """Outputs the name and the text of its slice's file."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"f": Artifact(Path)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"name": str, "text": str})

    def execute(self, op_in):
        return OPIO(name=op_in["f"].name, text=op_in["f"].read_text())


SLICES = Slices(input_artifact=["f"], output_parameter=["name", "text"])


def _artifact(root: Path, n: int, tag: str = "") -> Path:
    """An artifact dir of ``n`` files and one catalog listing them (as a stacked output)."""
    art = root / "store" / "files"
    art.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (art / f"f{i}.txt").write_text(f"{tag}{i}")
    items = [{"dflow_list_item": f"f{i}.txt", "order": i} for i in range(n)]
    cat = art / catalog.catalog_dir_name()
    cat.mkdir(exist_ok=True)
    tmp = cat / "stacked.tmp"
    tmp.write_text(json.dumps({"path_list": items}))
    os.replace(tmp, cat / "stacked")
    return art


def _slice(root: Path, art: Path, index: int) -> tuple[str, str]:
    """Run slice ``index`` the way the engine does: its own inputs dir, a link to the artifact."""
    ins = root / f"s{index}" / "inputs"
    (ins / "artifacts").mkdir(parents=True)
    os.symlink(art, ins / "artifacts" / "f")
    outs = root / f"s{index}" / "outputs"
    result = run_op(
        Read,
        inputs_dir=ins,
        outputs_dir=outs,
        workdir=root / f"s{index}" / "workdir",
        slices=SLICES,
        slice_index=index,
    )
    assert result.phase == "Succeeded", result.message
    got = [json.loads((outs / "parameters" / n).read_text())[0] for n in ("name", "text")]
    assert all(g["order"] == index for g in got), got
    return got[0]["dflow_list_item"], got[1]["dflow_list_item"]


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The catalog dirs parsed (every parse goes through read_catalog)."""
    calls: list[str] = []
    real = catalog.read_catalog

    def counting(root):
        calls.append(str(root))
        return real(root)

    monkeypatch.setattr(catalog, "read_catalog", counting)
    return calls


def test_each_of_1000_slices_gets_its_own_file_and_the_catalog_is_parsed_once(tmp_path, parses):
    art = _artifact(tmp_path, N)
    got = [_slice(tmp_path, art, i) for i in range(N)]
    assert got == [(f"f{i}.txt", str(i)) for i in range(N)]
    assert len(parses) == 1, f"the catalog was parsed {len(parses)} times for {N} slices"


def test_a_rewritten_catalog_is_read_again(tmp_path, parses):
    art = _artifact(tmp_path, 3)
    assert _slice(tmp_path, art, 2) == ("f2.txt", "2")
    # the same files, listed in another order: slice 0 now gets the last file
    items = [{"dflow_list_item": f"f{i}.txt", "order": 2 - i} for i in range(3)]
    cat = art / catalog.catalog_dir_name()
    (cat / "new").write_text(json.dumps({"path_list": items}))
    os.unlink(cat / "stacked")
    assert _slice(tmp_path, art, 0) == ("f2.txt", "2")
    assert len(parses) == 2


def test_a_sliced_artifact_without_a_catalog_is_its_only_item(tmp_path):
    art = tmp_path / "store" / "one.txt"
    art.parent.mkdir(parents=True)
    art.write_text("only")
    assert _slice(tmp_path, art, 0) == ("f", "only")  # the slice's link to the file
    with pytest.raises(AssertionError, match="out of range"):
        _slice(tmp_path, art, 1)

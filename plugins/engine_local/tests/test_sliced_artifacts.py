"""A 1,000-way fan-out over a sliced input artifact: each slice gets its own file, in both
slicing modes (the worker picks the item, or with ``sub_path=True`` the engine links it)."""

from __future__ import annotations

from pathlib import Path
from typing import List  # noqa: UP035 (signs as pydflow users write them)

import pytest
from dflow import Step, Workflow, argo_range, catalog
from dflow.python import OP, Artifact, PythonOPTemplate, Slices
from dflow_engine_local import layout

N = 1000


@OP.function
def make(n: int) -> {"files": Artifact(List[Path])}:  # noqa: F821, UP006
    paths = []
    for i in range(n):
        p = Path(f"f{i}.txt")
        p.write_text(str(i * 7))
        paths.append(p)
    return {"files": paths}


@OP.function
def read(f: Artifact(Path)) -> {"name": str, "text": str}:  # noqa: F821
    return {"name": f.name, "text": f.read_text()}


@pytest.mark.parametrize("sub_path", [False, True], ids=["worker-picks", "sub_path"])
def test_each_of_1000_slices_reads_its_own_file(workdir, sub_path):
    maker = Step("make", PythonOPTemplate(make), parameters={"n": N})
    fan = Step(
        "read",
        PythonOPTemplate(
            read,
            slices=Slices(
                None if sub_path else "{{item}}",
                sub_path=sub_path,
                input_artifact=["f"],
                output_parameter=["name", "text"],
            ),
        ),
        artifacts={"f": maker.outputs.artifacts["files"]},
        # the worker picks item i of the whole artifact: the loop gives the indices
        with_param=None if sub_path else argo_range(N),
    )
    wf = Workflow("sliced-art")
    wf.add(maker)
    wf.add(fan)
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    group = [s for s in wf.query_step(name="read") if s.type == "StepGroup"][0]
    assert group.outputs.parameters["name"].value == [f"f{i}.txt" for i in range(N)]
    assert group.outputs.parameters["text"].value == [str(i * 7) for i in range(N)]


def test_the_engine_parses_a_sliced_catalog_once_for_all_items(tmp_path, monkeypatch):
    art = tmp_path / "art"
    art.mkdir()
    paths = []
    for i in range(N):
        (art / f"f{i}.txt").write_text(str(i))
        paths.append(art / f"f{i}.txt")
    catalog.write_catalog(art, catalog.items_for(paths, art))
    parses: list[str] = []
    real = catalog.read_catalog
    monkeypatch.setattr(catalog, "read_catalog", lambda root: parses.append(root) or real(root))
    got = [layout.sub_path_item(str(art), i) for i in range(N)]
    assert got == [(str(art / f"f{i}.txt"), f"f{i}.txt") for i in range(N)]
    assert len(parses) == 1, f"the catalog was parsed {len(parses)} times for {N} items"
    with pytest.raises(IndexError, match=f"holds {N} items; item {N} does not exist"):
        layout.sub_path_item(str(art), N)

"""A fan-out's slices go to the warm workers in chunks, with per-slice outcomes unchanged;
stacked output artifacts hold every slice's files and one catalog."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dflow import Step, Workflow, catalog
from dflow.python import OP, OPIO, Artifact, OPIOSign, PythonOPTemplate, Slices
from dflow_engine_local import pool as pool_module


class Tally(OP):
    """Appends its x to a shared file (how often each slice ran); x == 7 kills its worker."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int, "tally": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    def execute(self, op_in):
        with open(op_in["tally"], "a") as f:
            f.write(f"{op_in['x']}\n")
        if op_in["x"] == 7:
            os._exit(3)
        return OPIO(y=op_in["x"] * 10)


def _chunk_sizes(monkeypatch) -> list[int]:
    sizes: list[int] = []
    real = pool_module.WorkerPool._send

    def send(self, worker, chunk):
        sizes.append(len(chunk))
        return real(self, worker, chunk)

    monkeypatch.setattr(pool_module.WorkerPool, "_send", send)
    return sizes


def test_slices_go_in_chunks_and_a_dead_worker_fails_only_its_slice(workdir, monkeypatch):
    sizes = _chunk_sizes(monkeypatch)
    tally = workdir / "tally.txt"
    n = 60
    step = Step(
        "fan",
        PythonOPTemplate(Tally, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
        parameters={"x": list(range(n)), "tally": str(tally)},
        continue_on_num_success=n - 1,
    )
    wf = Workflow("chunks")
    wf.add(step)
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    steps = wf.query_step(name="fan")
    failed = {s.displayName: s.message for s in steps if s.type == "Pod" and s.phase != "Succeeded"}
    assert list(failed) == ["fan(7:7)"], failed
    assert "worker died (exit code 3) while running step 'fan(7:7)'" in failed["fan(7:7)"]
    group = [s for s in steps if s.type == "StepGroup"][0]
    assert group.outputs.parameters["y"].value == [x * 10 for x in range(n) if x != 7]
    # every slice ran once: the dead worker's unstarted slices went to another worker
    runs = tally.read_text().split()
    assert sorted(int(x) for x in runs) == list(range(n)), runs
    # in chunks: fewer messages than slices (the dead worker's unstarted ones went again)
    assert max(sizes) > 1, sizes
    assert len(sizes) < n, sizes


class Tree(OP):
    """Writes a small tree per slice: a file, a nested dir, a link to a dir."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"out": Artifact(Path)})

    def execute(self, op_in):
        x = op_in["x"]
        root = Path(f"tree{x}")
        (root / "sub").mkdir(parents=True)
        (root / "sub" / "data.txt").write_text(f"data {x}")
        (root / "top.txt").write_text(f"top {x}")
        Path(f"shared{x}").mkdir()
        (Path(f"shared{x}") / "s.txt").write_text(f"shared {x}")
        os.symlink(os.path.abspath(f"shared{x}"), root / "linked")
        return OPIO(out=root)


def test_stacked_artifact_holds_every_file_and_one_catalog(workdir):
    n = 5
    step = Step(
        "trees",
        PythonOPTemplate(Tree, slices=Slices(input_parameter=["x"], output_artifact=["out"])),
        parameters={"x": list(range(n))},
    )
    wf = Workflow("stacked")
    wf.add(step)
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    group = [s for s in wf.query_step(name="trees") if s.type == "StepGroup"][0]
    merged = Path(group.outputs.artifacts["out"]["local_path"])
    trees = catalog.path_object(merged)
    assert [p.name for p in trees] == [f"tree{i}" for i in range(n)]
    for i, tree in enumerate(trees):
        assert (tree / "top.txt").read_text() == f"top {i}"
        assert (tree / "sub" / "data.txt").read_text() == f"data {i}"
        assert (tree / "linked" / "s.txt").read_text() == f"shared {i}"
    assert len(os.listdir(merged / ".dflow")) == 1


class Nap(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    def execute(self, op_in):
        if op_in["x"] == 3:
            time.sleep(120)
        return OPIO(y=op_in["x"])


def test_a_slice_over_its_timeout_fails_alone(workdir):
    n = 20
    step = Step(
        "naps",
        PythonOPTemplate(Nap, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
        parameters={"x": list(range(n))},
        timeout=5,
        continue_on_num_success=n - 1,
    )
    wf = Workflow("naps")
    wf.add(step)
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    steps = wf.query_step(name="naps")
    failed = {s.displayName: s.message for s in steps if s.type == "Pod" and s.phase != "Succeeded"}
    assert list(failed) == ["naps(3:3)"], failed
    assert "step 'naps(3:3)' timed out after 5 s" in failed["naps(3:3)"]
    group = [s for s in steps if s.type == "StepGroup"][0]
    assert group.outputs.parameters["y"].value == [x for x in range(n) if x != 3]

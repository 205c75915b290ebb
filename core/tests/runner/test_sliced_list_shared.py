"""A sliced parameter's whole list, read by every slice a warm worker serves: decoded once
per file (not once per slice, which made a fan-out quadratic), never stale, never shared
mutably between slices."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dflow.python.op import OP
from dflow.python.opio import OPIO, OPIOSign
from dflow.python.slices import Slices
from dflow.runner import inputs as runner_inputs
from dflow.runner import run_op
from dflow.serialization import dump_value


class Extend(OP):
    """Appends to its item (a list) in place and returns it."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": list})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": list})

    def execute(self, op_in):
        op_in["x"].append("extra")
        return OPIO(y=op_in["x"])


SLICES = Slices(input_parameter=["x"], output_parameter=["y"])


def _run(root: Path, index: int, out: str) -> list:
    result = run_op(
        Extend,
        inputs_dir=root / "inputs",
        outputs_dir=root / out,
        workdir=root / "workdir",
        slices=SLICES,
        slice_index=index,
    )
    assert result.phase == "Succeeded", result.message
    stacked = json.loads((root / out / "parameters" / "y").read_text())
    return [d["dflow_list_item"] for d in stacked]


def _write(root: Path, value: list) -> None:
    path = root / "inputs" / "parameters" / "x"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(dump_value(value))
    os.replace(tmp, path)  # a new file, as the engine writes one per fan-out


def test_the_whole_list_is_decoded_once_for_all_slices(tmp_path, monkeypatch):
    _write(tmp_path, [[i] for i in range(50)])
    calls = []
    real = runner_inputs.load_value

    def counting(text, tp=None):
        calls.append(len(text))
        return real(text, tp)

    monkeypatch.setattr(runner_inputs, "load_value", counting)
    for i in range(50):
        assert _run(tmp_path, i, f"out{i}") == [[i, "extra"]]
    assert len(calls) == 1, f"the list was decoded {len(calls)} times for 50 slices"


def test_a_slice_changing_its_item_does_not_change_what_the_next_run_gets(tmp_path):
    _write(tmp_path, [["a"], ["b"]])
    assert _run(tmp_path, 0, "first") == [["a", "extra"]]
    # a retry of the same slice in the same worker sees the item as the file holds it
    assert _run(tmp_path, 0, "retry") == [["a", "extra"]]
    assert _run(tmp_path, 1, "other") == [["b", "extra"]]


def test_a_rewritten_list_is_read_again(tmp_path):
    _write(tmp_path, [["old"]])
    assert _run(tmp_path, 0, "before") == [["old", "extra"]]
    _write(tmp_path, [["new"], ["newer"]])
    assert _run(tmp_path, 1, "after") == [["newer", "extra"]]

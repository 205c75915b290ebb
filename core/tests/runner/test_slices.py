"""``run_op`` with ``Slices``: one item, groups of items, pools, per-slice dirs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from dflow import catalog
from dflow.python.errors import TransientError
from dflow.python.op import OP
from dflow.python.opio import OPIO, Artifact, OPIOSign
from dflow.python.slices import Slices
from dflow.runner import run_op
from dflow.serialization import dump_value


class Scale(OP):
    """Scale one number, read one data file, write one log file (per slice)."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int, "factor": int, "data": Artifact(Path)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int, "pid": int, "log": Artifact(Path)})

    def execute(self, op_in):
        if op_in["x"] < 0:
            raise TransientError(f"negative {op_in['x']}")
        log = Path(f"log-{op_in['x']}.txt")
        log.write_text(f"{op_in['x']}:{op_in['data'].read_text()}")
        return OPIO(y=op_in["x"] * op_in["factor"], pid=os.getpid(), log=log)


def _slices(**kwargs):
    return Slices(
        input_parameter=["x"], input_artifact=["data"], output_parameter=["y"],
        output_artifact=["log"], **kwargs,
    )  # fmt: skip


@pytest.fixture
def dirs(tmp_path):
    inputs = tmp_path / "inputs"
    (inputs / "parameters").mkdir(parents=True)
    (inputs / "parameters" / "x").write_text(dump_value([10, 20, 30, -1]))
    (inputs / "parameters" / "factor").write_text("3")
    data = inputs / "artifacts" / "data"
    items = []
    for i in range(4):
        (data / f"d{i}").mkdir(parents=True)
        (data / f"d{i}" / "in.txt").write_text(f"data{i}")
        items.append({"dflow_list_item": f"d{i}/in.txt", "order": i})
    catalog.write_catalog(data, items)
    return tmp_path


def _run(root: Path, slices: Slices, index, **kwargs):
    return run_op(
        Scale,
        inputs_dir=root / "inputs",
        outputs_dir=root / "outputs",
        workdir=root / "workdir",
        slices=slices,
        slice_index=index,
        **kwargs,
    )


def _stacked(root: Path, name: str) -> list:
    return json.loads((root / "outputs" / "parameters" / name).read_text())


def _logs(root: Path) -> list[str]:
    return [p.read_text() for p in catalog.path_object(root / "outputs/artifacts/log")]


def test_one_slice(dirs):
    result = _run(dirs, _slices(), 1)
    assert result.ok, result.traceback
    assert _stacked(dirs, "y") == [{"dflow_list_item": 60, "order": 1}]
    assert (dirs / "outputs/parameters/factor").exists() is False  # not an output
    assert (dirs / "outputs/parameters/pid").read_text() == str(os.getpid())  # not sliced
    items = catalog.read_catalog(dirs / "outputs/artifacts/log")
    assert items == [{"dflow_list_item": "log-20.txt", "order": 1}]
    assert _logs(dirs) == ["20:data1"]


def test_group_serial_stacks_outputs(dirs):
    result = _run(dirs, _slices(group_size=3), [2, 0, 1])
    assert result.ok, result.traceback
    assert _stacked(dirs, "y") == [
        {"dflow_list_item": 90, "order": 2},
        {"dflow_list_item": 30, "order": 0},
        {"dflow_list_item": 60, "order": 1},
    ]
    assert _logs(dirs) == ["10:data0", "20:data1", "30:data2"]  # catalog order = slice order


def test_group_in_a_pool(dirs):
    result = _run(dirs, _slices(group_size=3, pool_size=3), [0, 1, 2])
    assert result.ok, result.traceback
    assert [d["dflow_list_item"] for d in _stacked(dirs, "y")] == [30, 60, 90]
    assert _logs(dirs) == ["10:data0", "20:data1", "30:data2"]
    assert int((dirs / "outputs/parameters/pid").read_text()) != os.getpid()


def test_create_dir_gives_each_slice_its_own_dir(dirs):
    (dirs / "inputs/parameters/x").write_text(dump_value([5] * 4))  # same file name per slice
    result = _run(dirs, _slices(create_dir=True, pool_size=1), [0, 1])
    assert result.ok, result.traceback
    items = catalog.read_catalog(dirs / "outputs/artifacts/log")
    assert items == [
        {"dflow_list_item": "slice_0/log-5.txt", "order": 0},
        {"dflow_list_item": "slice_1/log-5.txt", "order": 1},
    ]
    assert _logs(dirs) == ["5:data0", "5:data1"]
    assert (dirs / "workdir/slice_1/log-5.txt").is_file()


def test_failed_slice_fails_the_group_and_keeps_the_others(dirs):
    result = _run(dirs, _slices(), [2, 3])
    assert (result.phase, result.error, result.exit_code) == ("Failed", "transient", 1)
    assert result.message == "slice 3: TransientError: negative -1"
    assert _stacked(dirs, "y") == [{"dflow_list_item": 90, "order": 2}]


def test_success_tag_tolerates_failed_slices_unless_raise_for_group(dirs):
    result = _run(dirs, _slices(pool_size=2), [2, 3], success_tag=True)
    assert result.ok and result.message == "slice 3: TransientError: negative -1"
    assert (dirs / "outputs/success_tag").read_text() == "false"
    result = _run(dirs, _slices(raise_for_group=True), [2, 3], success_tag=True)
    assert not result.ok and result.error == "transient"


def test_slice_out_of_range(dirs):
    result = _run(dirs, _slices(), 7)
    assert result.error == "type"
    assert result.message == "OP Scale: slice 7 is out of range for input 'x' (a list of 4)"


def test_sub_path_mode_does_not_index_artifacts(dirs):
    # in sub_path mode the engine hands over only the slice's part of the artifact
    shutil.rmtree(dirs / "inputs/artifacts/data")
    (dirs / "inputs/artifacts/data").write_text("data2")
    sliced = Slices(sub_path=True, input_parameter=["x"], input_artifact=["data"])
    result = run_op(
        Scale,
        inputs_dir=dirs / "inputs",
        outputs_dir=dirs / "outputs",
        workdir=dirs / "workdir",
        slices=sliced,
        slice_index=2,
    )
    assert result.ok, result.traceback
    assert (dirs / "outputs/parameters/y").read_text() == "90"  # not a sliced output
    assert (dirs / "workdir/log-30.txt").read_text() == "30:data2"


def test_stacked_inputs_are_flattened(dirs):
    # outputs of a sliced fan-out, aggregated by the engine: strings of stacked items
    parts = [
        json.dumps([{"dflow_list_item": v, "order": i}])
        for i, v in [(1, 2), (0, 1), (3, 4), (2, 3)]
    ]  # one per data item
    (dirs / "inputs/parameters/x").write_text(json.dumps(parts))
    result = _run(dirs, _slices(), 0)
    assert result.ok, result.traceback
    assert _stacked(dirs, "y") == [{"dflow_list_item": 3, "order": 0}]

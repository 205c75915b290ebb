"""``HDF5Datasets`` artifacts: values stored as datasets of an HDF5 file (needs h5py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from dflow.python.op import OP
from dflow.python.opio import OPIO, Artifact, HDF5Datasets, OPIOSign
from dflow.runner import run_op


class Produce(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign()

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"arrays": Artifact(HDF5Datasets), "either": Artifact(Path | HDF5Datasets)})

    def execute(self, op_in):
        return OPIO(arrays=[[1.0, 2.0], "hello", 3], either={"a": [1, 2], "b": "x"})


class Consume(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"arrays": Artifact(HDF5Datasets), "either": Artifact(Path | HDF5Datasets)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"summary": dict})

    def execute(self, op_in):
        arrays, either = op_in["arrays"], op_in["either"]
        return OPIO(
            summary={
                "first": [float(v) for v in arrays[0]],
                "second": arrays[1],
                "third": int(arrays[2]),
                "a": [int(v) for v in either["a"]],
                "b": either["b"],
            }
        )


def test_hdf5_round_trip(tmp_path):
    pytest.importorskip("h5py")
    produced = run_op(
        Produce, inputs_dir=tmp_path / "in1", outputs_dir=tmp_path / "out1", workdir=tmp_path
    )
    assert produced.ok, produced.traceback
    assert len(list((tmp_path / "out1/artifacts/arrays").glob("*.h5"))) == 1
    (tmp_path / "in2").mkdir()
    (tmp_path / "out1/artifacts").rename(tmp_path / "in2/artifacts")
    consumed = run_op(
        Consume, inputs_dir=tmp_path / "in2", outputs_dir=tmp_path / "out2", workdir=tmp_path
    )
    assert consumed.ok, consumed.traceback
    import json

    summary = json.loads((tmp_path / "out2/parameters/summary").read_text())
    assert summary == {"first": [1.0, 2.0], "second": "hello", "third": 3, "a": [1, 2], "b": "x"}


def test_without_h5py_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` fail
    result = run_op(
        Produce, inputs_dir=tmp_path / "in", outputs_dir=tmp_path / "out", workdir=tmp_path
    )
    assert result.phase == "Failed"
    assert "HDF5Datasets artifacts need h5py: pip install h5py" in result.message

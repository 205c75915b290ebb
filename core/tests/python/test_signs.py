"""Signs (Artifact, Parameter, OPIO) and the checks of ``@OP.exec_sign_check``."""

# ruff: noqa: UP006, UP035, UP045 - the typing forms are what pydflow users write

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Dict, List, Optional, Set, Union

import pytest
from dflow.python.errors import FatalError, SignatureError, TransientError
from dflow.python.op import OP, make_instance
from dflow.python.opio import (
    MISSING,
    OPIO,
    Artifact,
    BigParameter,
    HDF5Datasets,
    NestedDict,
    OPIOSign,
    Parameter,
)


class Duplicate(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign(
            {
                "num": int,
                "msg": Parameter(str, default="hi"),
                "foo": Artifact(Path),
                "opt": Artifact(list[Path], optional=True),
                "weights": List[float],
            }
        )

    @classmethod
    def get_output_sign(cls):
        return OPIOSign(
            {"out": List[int], "bar": Artifact(Path), "note": Parameter(str, default="")}
        )

    @OP.exec_sign_check
    def execute(self, op_in):
        self.seen = op_in
        return self.reply


def _op(reply=None):
    op = Duplicate()
    op.reply = reply if reply is not None else {"out": [1], "bar": Path("x")}
    return op


GOOD = {"num": 3, "foo": Path("/data/foo"), "weights": [0.5, 1]}


def test_opio_is_a_mutable_mapping():
    io = OPIO({"a": 1})
    io["b"] = 2
    del io["a"]
    assert dict(io) == {"b": 2} and len(io) == 1 and io == {"b": 2}
    assert "b" in OPIOSign(b=int)


def test_defaults_and_optional_artifacts_are_filled():
    op = _op()
    op.execute(OPIO(GOOD))
    assert op.seen["msg"] == "hi"
    assert op.seen["opt"] is None
    assert op.seen["num"] == 3


def test_wrong_input_type_names_op_input_expected_and_actual():
    with pytest.raises(SignatureError) as e:
        _op().execute(OPIO({**GOOD, "num": "3"}))
    assert str(e.value) == "OP Duplicate: input 'num' expects int, got str ('3')"


def test_every_list_item_is_checked():
    with pytest.raises(SignatureError, match=r"input 'weights' expects List\[float\], got list"):
        _op().execute(OPIO({**GOOD, "weights": [1.0, 2.0, "x"]}))


def test_undeclared_input_is_rejected():
    with pytest.raises(SignatureError) as e:
        _op().execute(OPIO({**GOOD, "extra": 1}))
    assert "input 'extra' is not declared in get_input_sign" in str(e.value)
    assert "declared: num, msg, foo, opt, weights" in str(e.value)


def test_missing_required_input_and_artifact():
    with pytest.raises(SignatureError, match=r"OP Duplicate: missing input 'num' \(int\)"):
        _op().execute(OPIO({k: v for k, v in GOOD.items() if k != "num"}))
    with pytest.raises(SignatureError, match=r"missing input artifact 'foo' \(Path\)"):
        _op().execute(OPIO({k: v for k, v in GOOD.items() if k != "foo"}))


def test_artifact_value_type_is_checked():
    with pytest.raises(SignatureError) as e:
        _op().execute(OPIO({**GOOD, "foo": 7}))
    assert str(e.value) == "OP Duplicate: input artifact 'foo' expects Path, got int (7)"


def test_artifact_paths_may_be_str_or_path():
    _op().execute(OPIO({**GOOD, "foo": "/data/foo", "opt": ["a", Path("b")]}))


def test_wrong_output_type():
    with pytest.raises(SignatureError) as e:
        _op({"out": ["1"], "bar": Path("x")}).execute(OPIO(GOOD))
    assert str(e.value) == "OP Duplicate: output 'out' expects List[int], got list (['1'])"


def test_missing_output_and_undeclared_output():
    with pytest.raises(SignatureError) as e:
        _op({"out": [1]}).execute(OPIO(GOOD))
    assert "missing output artifact 'bar' (Path) declared in get_output_sign" in str(e.value)
    with pytest.raises(SignatureError, match="output 'zzz' is not declared in get_output_sign"):
        _op({"out": [1], "bar": "x", "zzz": 1}).execute(OPIO(GOOD))


def test_output_defaults_and_set_output_complete_the_outputs():
    op = _op({"out": [1]})
    op.set_output("bar", Path("b"))
    out = op.execute(OPIO(GOOD))
    assert out == {"out": [1], "bar": Path("b"), "note": ""}
    assert OP.outputs == {}  # set_output never writes into the shared class attribute


def test_execute_must_return_a_mapping():
    with pytest.raises(SignatureError, match="execute must return an OPIO"):
        _op([1, 2]).execute(OPIO(GOOD))


@pytest.mark.parametrize(
    "tp",
    [
        str,
        Path,
        List[str],
        List[Path],
        list[Path],
        Set[str],
        Dict[str, Path],
        dict[str, str],
        NestedDict[str],
        NestedDict[Path],
        HDF5Datasets,
        Union[Path, HDF5Datasets],
        Union[List[Path], HDF5Datasets],
        List[Union[str, Path]],
        str | Path,
    ],
)
def test_allowed_artifact_types(tp):
    assert Artifact(tp).type is tp


@pytest.mark.parametrize("tp", [int, List[int], Dict[int, Path], Optional[Path], dict])
def test_other_artifact_types_are_rejected(tp):
    with pytest.raises(TypeError, match="an artifact's type must be one of str, Path"):
        Artifact(tp)


def test_nested_dict_values_are_checked():
    class Nested(OP):
        @classmethod
        def get_input_sign(cls):
            return OPIOSign({"tree": Artifact(NestedDict[Path])})

        @classmethod
        def get_output_sign(cls):
            return OPIOSign()

        @OP.exec_sign_check
        def execute(self, op_in):
            return OPIO()

    Nested().execute(OPIO(tree={"a": {"b": Path("x")}, "c": "y"}))
    with pytest.raises(SignatureError, match=r"expects NestedDict\[Path\], got dict"):
        Nested().execute(OPIO(tree={"a": {"b": 3}}))
    with pytest.raises(TypeError, match="item type must be str or Path"):
        NestedDict[int]


def test_parameter_defaults_and_missing_sentinel():
    p = Parameter(int)
    assert p.default is MISSING and not p.has_default and not MISSING
    assert Parameter(int, default=None).has_default
    big = BigParameter(dict, default={})
    assert isinstance(big, Parameter) and big.default == {} and big.global_name is None
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert repr(Parameter(int, default=2)) == "Parameter(int, default=2)"


def test_op_without_signs_cannot_be_instantiated():
    class NoSign(OP):
        def execute(self, op_in):
            return OPIO()

    with pytest.raises(TypeError, match="abstract"):
        make_instance(NoSign)


def test_errors_are_exceptions():
    assert issubclass(TransientError, Exception) and issubclass(FatalError, Exception)
    assert issubclass(SignatureError, TypeError)


def test_progress_writes_the_progress_file(tmp_path, monkeypatch):
    progress = tmp_path / "progress"
    monkeypatch.setenv("ARGO_PROGRESS_FILE", str(progress))
    op = _op()
    op.progress_total = 10
    op.progress_current = 4
    assert progress.read_text() == "4/10"
    monkeypatch.delenv("ARGO_PROGRESS_FILE")
    op.progress_current = 5  # no file named: nothing written
    assert progress.read_text() == "4/10"


def test_get_info():
    op = _op()
    op.key = "step-1"
    assert op.get_info() == {
        "op": "Duplicate",
        "key": "step-1",
        "workflow_name": None,
        "progress_current": 0,
        "progress_total": 1,
    }


def test_superfunction_says_it_is_missing():
    with pytest.raises(NotImplementedError, match="superfunction is not implemented"):
        OP.superfunction(lambda: None)

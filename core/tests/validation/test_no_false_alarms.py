# ruff: noqa: UP006, UP045 - typing.List/Optional/Union, as pydflow users write them
"""Validation never rejects a workflow that runs: each class of false alarm found, as a test.

Every workflow here runs correctly (``tests/test_validation_runs.py`` runs the same shapes on
the local engine); the validator must raise nothing for it, and warn only where a run-time
value decides. The certain errors stay errors (last tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Union  # noqa: UP035

import pytest
from dflow import OutputParameter, Step, Steps, Workflow, argo_range, upload_artifact
from dflow.python import OP, OPIO, Artifact, OPIOSign, Parameter, PythonOPTemplate, Slices
from dflow.validation import ValidationError, ValidationWarning, problems_of


def op(name: str, ins: dict, outs: dict) -> type[OP]:
    """An OP class with these signs (the tests only build workflows)."""
    return type(
        name,
        (OP,),
        {
            "get_input_sign": classmethod(lambda cls: OPIOSign(ins)),
            "get_output_sign": classmethod(lambda cls: OPIOSign(outs)),
            "execute": lambda self, op_in: OPIO(),
        },
    )


Square = op("Square", {"x": int}, {"y": int})
SumList = op("SumList", {"ys": List[int]}, {"s": int})
SumBare = op("SumBare", {"ys": list}, {"s": int})
SLICES = Slices(input_parameter=["x"], output_parameter=["y"])


def problems(*steps: Any) -> list[tuple[str, str]]:
    wf = Workflow("wf")
    for s in steps:
        wf.add(s)
    return [(p.severity, str(p)) for p in problems_of(wf)]


def sliced_square(**kw: Any) -> Step:
    return Step("sq", PythonOPTemplate(Square, slices=SLICES), **kw)


@pytest.mark.parametrize("consumer", [SumList, SumBare])
def test_an_int_output_of_a_sliced_step_is_a_list_downstream(consumer):
    sq = sliced_square(parameters={"x": [1, 2, 3]})  # the loop is inferred from the list
    total = Step("sum", PythonOPTemplate(consumer), parameters={"ys": sq.outputs.parameters["y"]})
    assert problems(sq, total) == []
    fan = Step(
        "fan", PythonOPTemplate(Square), parameters={"x": "{{item}}"}, with_param=argo_range(3)
    )
    total = Step("sum", PythonOPTemplate(consumer), parameters={"ys": fan.outputs.parameters["y"]})
    assert problems(fan, total) == []


def test_outputs_of_a_sub_path_sliced_step_are_lists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a").mkdir()
    Path("a/1").write_text("1")
    count = op("Count", {"f": Artifact(Path)}, {"y": int})
    step = Step(
        "count",
        PythonOPTemplate(
            count, slices=Slices(sub_path=True, input_artifact=["f"], output_parameter=["y"])
        ),
        artifacts={"f": upload_artifact(["a/1"], archive=None)},
    )
    total = Step("sum", PythonOPTemplate(SumBare), parameters={"ys": step.outputs.parameters["y"]})
    assert problems(step, total) == []


def test_a_steps_output_filled_by_an_inner_fan_out_is_a_list():
    inner = Steps("inner")
    sq = sliced_square(parameters={"x": [1, 2]})
    inner.add(sq)
    inner.outputs.parameters["ys"] = OutputParameter(
        value_from_parameter=sq.outputs.parameters["y"], type=int
    )  # typed as the item
    outer = Step("outer", inner)
    total = Step(
        "sum", PythonOPTemplate(SumBare), parameters={"ys": outer.outputs.parameters["ys"]}
    )
    assert problems(outer, total) == []


@pytest.mark.parametrize("produced", [list, List[int], Any, Parameter(list), None])
def test_an_untyped_or_list_output_feeds_a_sliced_input(produced):
    make = op("Make", {}, {"xs": produced} if produced is not None else {"xs": Parameter(Any)})
    mk = Step("mk", PythonOPTemplate(make))
    assert problems(mk, sliced_square(parameters={"x": mk.outputs.parameters["xs"]})) == []


def test_a_str_output_holding_json_is_a_warning_and_the_run_goes_on():
    make = op("Make", {}, {"xs": str})
    mk = Step("mk", PythonOPTemplate(make))
    sq = sliced_square(parameters={"x": mk.outputs.parameters["xs"]})
    assert problems(mk, sq) == [
        (
            "warning",
            (
                "wf/wf-steps[1]/sq: input 'x' expects list of int, got output 'xs' (str) of step 'mk': "
                "this works only if the text is JSON of type list of int"
            ),
        )
    ]
    wf = Workflow("wf")
    wf.add([mk])
    wf.add(sq)
    with pytest.warns(ValidationWarning, match="this works only if the text is JSON"):
        wf.validate()  # does not raise


@pytest.mark.parametrize("expected", [int | None, Optional[int], Union[str, int]])
def test_optional_and_union_inputs_take_their_members(expected):
    make = op("Make", {}, {"n": int})
    opt = op("Opt", {"x": expected}, {})
    mk = Step("mk", PythonOPTemplate(make))
    assert (
        problems(mk, Step("o", PythonOPTemplate(opt), parameters={"x": mk.outputs.parameters["n"]}))
        == []
    )


def test_two_templates_with_one_name_are_fine():
    make = op("Make", {}, {"n": int})
    a = PythonOPTemplate(make)
    b = PythonOPTemplate(Square)
    b.name = a.name
    assert problems(Step("a", a), Step("b", b, parameters={"x": 1})) == []


def test_a_list_literal_holding_a_reference_is_checked_at_run_time():
    # engines fill in the reference inside the list: its items are known only then
    make = op("Make", {}, {"n": int})
    a = Step("a", PythonOPTemplate(make))
    assert problems(Step("s", PythonOPTemplate(SumList), parameters={"ys": [1, "{{item}}"]})) == []
    assert (
        problems(
            a,
            Step("s", PythonOPTemplate(SumList), parameters={"ys": [1, a.outputs.parameters["n"]]}),
        )
        == []
    )
    assert problems(Step("s", PythonOPTemplate(SumList), parameters={"ys": [1, "two"]})) == [
        ("error", "wf/wf-steps[0]/s: input 'ys' expects List[int], got list ([1, 'two'])")
    ]


def test_none_parts_of_a_list_or_dict_of_artifacts_are_left_out():
    write = op("Write", {}, {"f": Artifact(Path)})
    cat = op("Cat", {"files": Artifact(List[Path])}, {})
    w = Step("w", PythonOPTemplate(write))
    parts = [w.outputs.artifacts["f"], None]
    assert problems(w, Step("c", PythonOPTemplate(cat), artifacts={"files": parts})) == []
    named = {"a": w.outputs.artifacts["f"], "b": None}
    assert problems(w, Step("c", PythonOPTemplate(cat), artifacts={"files": named})) == []


# -- errors that are certain stay errors --------------------------------------------------------


@pytest.mark.parametrize(("produced", "label"), [(float, "float"), (dict, "dict")])
def test_a_concrete_mismatch_is_an_error(produced, label):
    make = op("Make", {}, {"n": produced})
    mk = Step("mk", PythonOPTemplate(make))
    assert problems(
        mk, Step("sq", PythonOPTemplate(Square), parameters={"x": mk.outputs.parameters["n"]})
    ) == [
        (
            "error",
            (f"wf/wf-steps[1]/sq: input 'x' expects int, got output 'n' ({label}) of step 'mk'"),
        )
    ]


def test_a_single_value_cannot_be_sliced_and_a_list_is_not_an_int():
    make = op("Make", {}, {"n": int})
    mk = Step("mk", PythonOPTemplate(make))
    assert problems(mk, sliced_square(parameters={"x": mk.outputs.parameters["n"]})) == [
        (
            "error",
            "wf/wf-steps[1]/sq: input 'x' expects list of int, got output 'n' (int) of step 'mk'",
        )
    ]
    sq = sliced_square(parameters={"x": [1, 2]})
    assert problems(
        sq, Step("again", PythonOPTemplate(Square), parameters={"x": sq.outputs.parameters["y"]})
    ) == [
        (
            "error",
            "wf/wf-steps[1]/again: input 'x' expects int, got output 'y' (list of int) "
            "of step 'sq'",
        )
    ]


def test_literals_missing_outputs_and_cycles_are_errors():
    wf = Workflow("wf")
    wf.add(Step("sq", PythonOPTemplate(Square), parameters={"x": "three"}))
    wf.add(
        Step(
            "echo",
            PythonOPTemplate(Square),
            parameters={"x": "{{steps.sq.outputs.parameters.nope}}"},
        )
    )
    with pytest.raises(ValidationError) as err:
        wf.validate()
    assert [str(p) for p in err.value.problems] == [
        "wf/wf-steps[0]/sq: input 'x' expects int, got str ('three')",
        "wf/wf-steps[1]/echo: '{{steps.sq.outputs.parameters.nope}}': step 'sq' has no output "
        "parameter 'nope'",
    ]

"""Hostile parameter values: a dict or list that contains itself is a clear validation error
naming the step and the parameter (it used to exhaust the stack with RecursionError)."""

from __future__ import annotations

import pytest
from dflow import Step, Task, Workflow
from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate
from dflow.validation import ValidationError, validate_workflow

pytestmark = pytest.mark.fault


class Take(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"v": dict})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"n": int})

    def execute(self, op_in):
        return OPIO({"n": len(op_in["v"])})


def _circular() -> dict:
    d = {"a": [1, {}]}
    d["a"][1]["self"] = d
    return d


@pytest.mark.parametrize("kind", ["steps", "dag"])
def test_a_circular_dict_parameter_is_a_clear_error(kind):
    wf = Workflow("circ")
    make = Step if kind == "steps" else Task
    wf.add(make("take", PythonOPTemplate(Take), parameters={"v": _circular()}))
    wf.add(make("fine", PythonOPTemplate(Take), parameters={"v": {"a": [1]}}))
    with pytest.raises(ValidationError) as info:
        validate_workflow(wf)
    [problem] = info.value.problems
    assert "take" in problem.path
    assert "input parameter 'v' is circular: v['a'][1]['self']" in str(problem)


@pytest.mark.parametrize("engine", ["local", "argo"])
def test_submitting_it_says_so_on_both_engines(engine, tmp_path, monkeypatch):
    pytest.importorskip(f"dflow_engine_{engine}")
    monkeypatch.chdir(tmp_path)
    wf = Workflow("circ", engine=engine)  # validation comes before any run or request
    wf.add(Step("take", PythonOPTemplate(Take), parameters={"v": _circular()}))
    with pytest.raises(ValidationError, match="take: input parameter 'v' is circular"):
        wf.submit()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call", ["to_dict", "lint"])
def test_rendering_it_says_so_too(call):
    wf = Workflow("circ")
    wf.add(Step("take", PythonOPTemplate(Take), parameters={"v": _circular()}))
    with pytest.raises(ValidationError, match="take: input parameter 'v' is circular"):
        getattr(wf, call)()

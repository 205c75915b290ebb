"""The workflows the validator must not reject do run: the shapes of
``core/tests/validation/test_no_false_alarms.py``, submitted to the local engine."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import List  # noqa: UP035

import pytest
from dflow import OutputParameter, ShellOPTemplate, Step, Steps, Workflow
from dflow.python import OP, Artifact, PythonOPTemplate, Slices
from dflow.validation import ValidationWarning


@pytest.fixture
def local(tmp_path, monkeypatch):
    from dflow.config import config

    saved = dict(config)
    config.update(mode="local", debug_workdir=str(tmp_path), debug_pool_workers=2)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    config.clear()
    config.update(saved)


@OP.function
def square(x: int) -> {"y": int}:
    return {"y": x * x}


@OP.function
def total(ys: list) -> {"s": int}:
    return {"s": sum(ys)}


@OP.function
def make_list(n: int) -> {"xs": list}:
    return {"xs": list(range(1, n + 1))}


@OP.function
def make_text(n: int) -> {"xs": str}:
    return {"xs": json.dumps(list(range(1, n + 1)))}


SLICES = Slices(input_parameter=["x"], output_parameter=["y"])


def _run(*groups) -> Workflow:
    wf = Workflow("runs")
    for g in groups:
        wf.add(g)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wf.submit()
    wf.caught = [str(w.message) for w in caught if issubclass(w.category, ValidationWarning)]
    assert wf.query_status() == "Succeeded"
    return wf


def _out(wf, name, param):
    return wf.query_step(name=name)[0].outputs.parameters[param].value


def test_sliced_int_outputs_arrive_as_a_list(local):
    sq = Step("sq", PythonOPTemplate(square, slices=SLICES), parameters={"x": [1, 2, 3]})
    wf = _run(
        sq, Step("sum", PythonOPTemplate(total), parameters={"ys": sq.outputs.parameters["y"]})
    )
    assert _out(wf, "sum", "s") == 14 and wf.caught == []


@pytest.mark.parametrize(("maker", "warned"), [(make_list, False), (make_text, True)])
def test_a_list_or_json_text_output_feeds_a_sliced_input(local, maker, warned):
    mk = Step("mk", PythonOPTemplate(maker), parameters={"n": 3})
    sq = Step(
        "sq", PythonOPTemplate(square, slices=SLICES), parameters={"x": mk.outputs.parameters["xs"]}
    )
    wf = _run(
        mk, sq, Step("sum", PythonOPTemplate(total), parameters={"ys": sq.outputs.parameters["y"]})
    )
    assert _out(wf, "sum", "s") == 14
    assert bool(wf.caught) is warned  # JSON text: a warning, and the run goes on


def test_a_steps_output_filled_by_an_inner_fan_out(local):
    inner = Steps("inner")
    sq = Step("sq", PythonOPTemplate(square, slices=SLICES), parameters={"x": [1, 2]})
    inner.add(sq)
    inner.outputs.parameters["ys"] = OutputParameter(
        value_from_parameter=sq.outputs.parameters["y"], type=int
    )
    outer = Step("outer", inner)
    wf = _run(
        outer,
        Step("sum", PythonOPTemplate(total), parameters={"ys": outer.outputs.parameters["ys"]}),
    )
    assert _out(wf, "sum", "s") == 5


def test_two_templates_with_one_name(local):
    one = ShellOPTemplate(name="same", script="echo one > /tmp/out.txt")
    two = ShellOPTemplate(name="same", script="echo two > /tmp/out.txt")
    for t in (one, two):
        t.outputs.parameters = {"o": OutputParameter(value_from_path="/tmp/out.txt")}
    wf = _run(Step("a", one), Step("b", two))
    assert (_out(wf, "a", "o"), _out(wf, "b", "o")) == ("one", "two")


@OP.function
def write(text: str) -> {"f": Artifact(Path)}:
    Path("f.txt").write_text(text)
    return {"f": Path("f.txt")}


@OP.function
def cat(files: Artifact(List[Path])) -> {"text": str}:  # noqa: UP006 - pydflow style
    return {"text": "".join(Path(f).read_text() for f in files)}


def test_a_none_part_of_a_list_of_artifacts_is_left_out(local):
    w = Step("w", PythonOPTemplate(write), parameters={"text": "B"})
    c = Step("c", PythonOPTemplate(cat), artifacts={"files": [w.outputs.artifacts["f"], None]})
    assert _out(_run(w, c), "c", "text") == "B"

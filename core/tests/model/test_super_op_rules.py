"""Rules both engines follow for super-OP outputs and templates changed after their steps."""

from __future__ import annotations

from dflow import (
    InputArtifact,
    InputParameter,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Workflow,
    if_expression,
)
from dflow.expressions import render
from dflow.model.io import (
    MISSING,
    output_parameter_type,
    step_input_names,
    step_input_optional,
    step_input_value,
)


def _tmpl():
    t = ShellOPTemplate(name="t", script="true")
    t.outputs.parameters = {
        "flag": OutputParameter(value_from_path="/tmp/f", type=bool),
        "n": OutputParameter(value_from_path="/tmp/n", type=int),
    }
    return t


def test_if_expression_on_a_bool_parameter_compares_its_text_as_pydflow_does():
    a = Step("a", _tmpl())
    e = if_expression(_if=a.outputs.parameters["flag"], _then=a.outputs.parameters["n"], _else=0)
    assert e.condition == "steps['a'].outputs.parameters['flag'] == 'true'"
    scope = {"steps": {"a": {"outputs": {"parameters": {"flag": "false", "n": "5"}}}}}
    assert render(str(e), scope) == "0"
    scope["steps"]["a"]["outputs"]["parameters"]["flag"] = "true"
    assert render(str(e), scope) == "5"


def test_if_expression_condition_forms():
    a = Step("a", _tmpl())
    n = a.outputs.parameters["n"]
    assert if_expression(True, 1, 2).condition == "true"
    assert if_expression(n < 3, 1, 2).condition == "asFloat(steps['a'].outputs.parameters['n']) < 3"
    # expression text is pasted as is (pydflow); quoting it made every condition a string
    assert (
        if_expression("inputs.parameters['x'] > 1", 1, 2).condition == "inputs.parameters['x'] > 1"
    )


def test_output_parameter_type_follows_its_source():
    a = Step("a", _tmpl())
    n = a.outputs.parameters["n"]
    assert output_parameter_type(OutputParameter(value_from_parameter=n)) is int
    chosen = if_expression(_if=a.outputs.parameters["flag"], _then=n, _else=n)
    assert output_parameter_type(OutputParameter(value_from_expression=chosen)) is int
    assert output_parameter_type(OutputParameter(value_from_parameter=n, type=str)) is str
    assert output_parameter_type(OutputParameter(value_from_expression="1 + 1")) is None


def test_step_inputs_follow_the_template_changed_after_the_step():
    t = ShellOPTemplate(name="t", script="true")
    t.inputs.parameters = {"p": InputParameter(), "given": InputParameter(value="dflt")}
    t.inputs.artifacts = {"x": InputArtifact(path="/tmp/x")}
    s = Step("s", t, parameters={"given": "arg"})
    assert step_input_value(s, "p") is MISSING
    assert not step_input_optional(s, "x")
    t.inputs.parameters["p"].value = 3
    t.inputs.parameters["given"].value = "new default"
    t.inputs.parameters["q"] = InputParameter(value="q")
    t.inputs.artifacts["x"].optional = True
    assert step_input_value(s, "p") == 3
    assert step_input_value(s, "given") == "arg"  # the step's argument wins
    assert step_input_names(s, "parameters") == ["p", "given", "q"]
    assert step_input_optional(s, "x")
    wf = Workflow("late")
    wf.add(s)
    wf.validate()  # was: "has no value and no default" and "input artifact 'x' ... is required"

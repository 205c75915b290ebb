"""Validation: each kind of problem is reported, before anything runs, with its path."""

from __future__ import annotations

import pytest
from dflow import (
    DAG,
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Steps,
    Task,
    Workflow,
    argo_range,
)
from dflow.python import OP, Artifact, PythonOPTemplate, Slices
from dflow.validation import ValidationError, problems_of


def shell(name="echo", script="echo {{inputs.parameters.msg}}"):
    t = ShellOPTemplate(name=name, image="alpine", script=script)
    t.inputs.parameters = {"msg": InputParameter()}
    t.inputs.artifacts = {"data": InputArtifact(path="/tmp/data", optional=True)}
    t.outputs.parameters = {"out": OutputParameter(value_from_path="/tmp/out")}
    t.outputs.artifacts = {"res": OutputArtifact(path="/tmp/res")}
    return t


@OP.function
def square(x: int) -> {"y": int}:
    return {"y": x * x}


@OP.function
def hello(name: str) -> {"msg": str}:
    return {"msg": f"hello {name}"}


@OP.function
def count_lines(f: Artifact(str)) -> {"n": int}:
    return {"n": 0}


def messages(wf):
    return [str(p) for p in problems_of(wf)]


def wf_of(*groups, name="wf"):
    wf = Workflow(name=name)
    for g in groups:
        wf.add(g)
    return wf


def test_a_valid_workflow_has_no_problems():
    a = Step("a", shell(), parameters={"msg": "x"})
    b = Step(
        "b",
        shell(),
        parameters={"msg": a.outputs.parameters["out"]},
        artifacts={"data": a.outputs.artifacts["res"]},
    )
    wf = wf_of(a, b)
    assert messages(wf) == []
    wf.validate()


def test_reference_to_a_step_of_the_same_group():
    a = Step("a", shell(), parameters={"msg": "x"})
    b = Step("b", shell(), parameters={"msg": a.outputs.parameters["out"]})
    assert messages(wf_of([a, b])) == [
        "wf/wf-steps[0]/b: refers to step 'a' of the same parallel group: it may not have "
        "finished; move it to a later group"
    ]


def test_reference_to_a_later_step():
    later = Step("later", shell(), parameters={"msg": "x"})
    b = Step("b", shell(), parameters={"msg": "{{steps.later.outputs.parameters.out}}"})
    assert messages(wf_of(b, later)) == [
        "wf/wf-steps[0]/b: refers to step 'later', which runs later: a step may only use steps "
        "of earlier groups"
    ]


def test_reference_to_a_step_outside_the_template():
    stranger = Step("stranger", shell(), parameters={"msg": "x"})
    b = Step("b", shell(), parameters={"msg": stranger.outputs.parameters["out"]})
    assert messages(wf_of(b)) == [
        "wf/wf-steps[0]/b: refers to step 'stranger', which is not in steps 'wf-steps'"
    ]


def test_reference_to_an_output_the_step_does_not_have():
    a = Step("a", shell(), parameters={"msg": "x"})
    b = Step("b", shell(), parameters={"msg": "{{steps.a.outputs.parameters.nope}}"})
    assert messages(wf_of(a, b)) == [
        "wf/wf-steps[1]/b: '{{steps.a.outputs.parameters.nope}}': step 'a' has no output "
        "parameter 'nope'"
    ]


def test_reference_to_an_undeclared_template_input():
    inner = Steps(name="inner")
    inner.inputs.parameters = {"n": InputParameter()}
    inner.add(Step("s", shell(), parameters={"msg": "{{inputs.parameters.m}}"}))
    outer = Step("outer", inner, parameters={"n": 1})
    assert messages(wf_of(outer)) == [
        "wf/wf-steps[0]/outer/inner[0]/s: '{{inputs.parameters.m}}': template 'inner' has no "
        "input parameter 'm'"
    ]


def test_dag_unknown_dependency_and_cycle():
    a = Task("a", shell(), parameters={"msg": "{{tasks.c.outputs.parameters.out}}"})
    b = Task("b", shell(), parameters={"msg": a.outputs.parameters["out"]})
    c = Task("c", shell(), parameters={"msg": b.outputs.parameters["out"]})
    d = Task("d", shell(), parameters={"msg": "x"}, dependencies=["ghost"])
    msgs = messages(wf_of(a, b, c, d))
    assert "wf/wf-dag/d: depends on task 'ghost', which is not in DAG 'wf-dag'" in msgs
    assert "wf/wf-dag: dependency cycle: a -> c -> b -> a" in msgs


def test_parameter_type_against_the_op_sign():
    wf = wf_of(Step("sq", PythonOPTemplate(square), parameters={"x": "three"}))
    assert messages(wf) == ["wf/wf-steps[0]/sq: input 'x' expects int, got str ('three')"]
    # parameters travel as text: "3" is an int; templates are checked at run time
    assert messages(wf_of(Step("sq", PythonOPTemplate(square), parameters={"x": "3"}))) == []
    assert (
        messages(
            wf_of(
                Step("sq", PythonOPTemplate(square), parameters={"x": "{{item}}"}),
            )
        )
        == []
    )
    wf = wf_of(Step("sq", PythonOPTemplate(square), parameters={"x": 2.5}))
    assert messages(wf) == ["wf/wf-steps[0]/sq: input 'x' expects int, got float (2.5)"]


@OP.function
def total(xs: list[int]) -> {"y": int}:
    return {"y": sum(xs)}


def test_parameter_type_checks_every_item_as_the_step_will():
    # the step checks every item when it runs: validation says so before submitting
    wf = wf_of(Step("total", PythonOPTemplate(total), parameters={"xs": [1, 2, "three"]}))
    assert messages(wf) == [
        "wf/wf-steps[0]/total: input 'xs' expects list[int], got list ([1, 2, 'three'])"
    ]
    assert messages(wf_of(Step("total", PythonOPTemplate(total), parameters={"xs": [1, 2]}))) == []


def test_parameter_type_of_a_reference_against_the_op_sign():
    h = Step("hello", PythonOPTemplate(hello), parameters={"name": "a"})
    sq = Step("square", PythonOPTemplate(square), parameters={"x": h.outputs.parameters["msg"]})
    # a str output may hold "3": only the run can tell, so it is a warning
    [problem] = problems_of(wf_of(h, sq))
    assert (problem.severity, str(problem)) == (
        "warning",
        (
            "wf/wf-steps[1]/square: input 'x' expects int, got output 'msg' (str) of step 'hello': "
            "this works only if the text is JSON of type int"
        ),
    )


def test_missing_required_inputs():
    wf = wf_of(Step("a", shell()), Step("c", PythonOPTemplate(count_lines)))
    assert messages(wf) == [
        "wf/wf-steps[0]/a: input parameter 'msg' of template 'echo' has no value and no "
        "default: pass parameters={'msg': ...}",
        f"wf/wf-steps[1]/c: input artifact 'f' of template "
        f"'{wf.entrypoint.steps[1][0].template.name}' is required: pass artifacts={{'f': ...}} "
        "or mark it optional",
    ]


def test_artifact_shape():
    wf = wf_of(Step("a", shell(), parameters={"msg": "x"}, artifacts={"data": 42}))
    assert messages(wf) == [
        "wf/wf-steps[0]/a: input artifact 'data' got int (42): expected an uploaded artifact, an "
        "artifact of another step, or a list/dict of them"
    ]


def test_slice_lengths_and_slice_names():
    @OP.function
    def add(a: int, b: int) -> {"c": int}:
        return {"c": a + b}

    t = PythonOPTemplate(add, slices=Slices(input_parameter=["a", "b"], output_parameter=["c"]))
    wf = wf_of(Step("add", t, parameters={"a": [1, 2, 3], "b": [1, 2]}))
    assert messages(wf) == [
        "wf/wf-steps[0]/add: sliced inputs differ in length: 'a' has 3, 'b' has 2"
    ]
    t2 = PythonOPTemplate(add, slices=Slices(input_parameter=["z"], output_parameter=["c"]))
    wf2 = wf_of(Step("add", t2, parameters={"a": 1, "b": 2}, with_param=argo_range(2)))
    assert messages(wf2) == [
        "wf/wf-steps[0]/add: Slices names input parameter 'z', which the OP does not have"
    ]
    wf3 = wf_of(Step("add", t, parameters={"a": [1, 2], "b": [1, 2]}, with_param=argo_range(3)))
    assert messages(wf3) == ["wf/wf-steps[0]/add: with_param has 3 items but sliced inputs have 2"]
    wf4 = wf_of(Step("add", t, parameters={"a": [1, "{{item}}"], "b": [1, 2]}))
    assert messages(wf4) == []  # templates are checked at run time
    wf5 = wf_of(Step("add", t, parameters={"a": [1, 2.5], "b": [1, 2]}))
    assert messages(wf5) == ["wf/wf-steps[0]/add: input 'a' item 1 expects int, got float (2.5)"]


def test_invalid_key_and_template_name():
    t = shell(name="Bad_Name")
    step = Step("a", t, parameters={"msg": "x"}, key="k-{{item}}")
    step.key = "Key_{{item}}"  # Step() refuses it; a key set afterwards is caught here
    assert messages(wf_of(step)) == [
        "wf/wf-steps[0]/a: key 'Key_{{item}}' is invalid: use lower-case letters, digits, '-' "
        "and '.', starting with a letter or digit ({{item}} and other {{...}} parts are "
        "allowed), e.g. 'iter-{{item}}'",
        "wf/wf-steps[0]/a: template name 'bad_name' is not a lower-case RFC 1123 name",
    ]
    assert messages(wf_of(Step("a", shell(), parameters={"msg": "x"}, key="sq-{{item}}"))) == []


def test_template_outputs_from_foreign_steps():
    stranger = Step("stranger", shell(), parameters={"msg": "x"})
    inner = Steps(name="inner")
    inner.add(Step("s", shell(), parameters={"msg": "x"}))
    inner.outputs.parameters = {
        "p": OutputParameter(value_from_parameter=stranger.outputs.parameters["out"]),
        "q": OutputParameter(),
    }
    inner.outputs.artifacts = {"a": OutputArtifact(_from=stranger.outputs.artifacts["res"])}
    assert messages(wf_of(Step("outer", inner))) == [
        "wf/wf-steps[0]/outer/inner: output parameter 'p' comes from step 'stranger', which is "
        "not in 'inner'",
        "wf/wf-steps[0]/outer/inner: output parameter 'q' has no source: set "
        "value_from_parameter or value_from_expression",
        "wf/wf-steps[0]/outer/inner: output artifact 'a' comes from step 'stranger', which is "
        "not in 'inner'",
    ]


def test_recursive_templates_are_checked_once():
    loop = Steps(name="loop")
    loop.inputs.parameters = {"i": InputParameter()}
    loop.add(Step("body", shell(), parameters={"msg": "{{inputs.parameters.i}}"}))
    loop.add(
        Step(
            "next",
            loop,
            parameters={"i": "{{=asInt(inputs.parameters.i) + 1}}"},
            when="{{inputs.parameters.i}} < 3",
        )
    )
    assert messages(wf_of(Step("start", loop, parameters={"i": 0}))) == []


def test_validation_error_lists_every_problem():
    wf = wf_of(Step("a", shell()), Step("b", shell()))
    with pytest.raises(ValidationError) as info:
        wf.validate()
    text = str(info.value)
    assert text.startswith("workflow is invalid (2 problems):")
    assert "wf/wf-steps[0]/a: input parameter 'msg'" in text
    assert len(info.value.problems) == 2


def test_duplicate_step_names_and_different_templates_with_one_name():
    a = Step("a", shell(name="same"), parameters={"msg": "x"})
    a2 = Step("a", shell(name="same", script="other"), parameters={"msg": "y"})
    msgs = messages(wf_of(a, a2))
    # two templates may share a name (both engines tell them apart); two steps may not
    assert msgs == ["wf/wf-steps[1]/a: step name 'a' is used twice in 'wf-steps'"]


def test_dag_task_reference_must_be_a_dependency_output():
    a = Task("a", shell(), parameters={"msg": "x"})
    b = Task("b", DAG(name="empty"), dependencies=[a])
    c = Task("c", shell(), parameters={"msg": "{{tasks.a.outputs.parameters.missing}}"})
    msgs = messages(wf_of(a, b, c))
    assert (
        "wf/wf-dag/c: '{{tasks.a.outputs.parameters.missing}}': task 'a' has no output "
        "parameter 'missing'" in msgs
    )

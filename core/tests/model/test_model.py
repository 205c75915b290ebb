"""The workflow model: construction, references, expressions, with-blocks; no I/O anywhere."""

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
    argo_enumerate,
    argo_len,
    argo_range,
    argo_sequence,
    argo_sum,
    if_expression,
)
from dflow.model.io import MISSING, render_value


def echo_template(name: str = "echo") -> ShellOPTemplate:
    t = ShellOPTemplate(name=name, image="alpine", script="echo {{inputs.parameters.msg}}")
    t.inputs.parameters = {"msg": InputParameter(), "n": InputParameter(value=1)}
    t.inputs.artifacts = {"data": InputArtifact(path="/tmp/data", optional=True)}
    t.outputs.parameters = {"out": OutputParameter(value_from_path="/tmp/out")}
    t.outputs.artifacts = {"res": OutputArtifact(path="/tmp/res")}
    return t


def test_step_references_render_as_argo_variables():
    t = echo_template()
    a = Step("a", t, parameters={"msg": "hi"})
    b = Step(
        "b",
        t,
        parameters={"msg": a.outputs.parameters["out"]},
        artifacts={"data": a.outputs.artifacts["res"]},
    )
    assert str(a.outputs.parameters["out"]) == "{{steps.a.outputs.parameters.out}}"
    assert a.outputs.parameters["out"].expr == "steps['a'].outputs.parameters['out']"
    assert render_value(b.inputs.parameters["msg"].value) == "{{steps.a.outputs.parameters.out}}"
    assert str(b.inputs.artifacts["data"].source) == "{{steps.a.outputs.artifacts.res}}"
    assert b.referenced_nodes() == {"a"}


def test_task_references_use_tasks_scope_and_infer_dependencies():
    t = echo_template()
    a = Task("a", t, parameters={"msg": "x"})
    b = Task("b", t, parameters={"msg": "{{tasks.a.outputs.parameters.out}}"})
    c = Task("c", t, parameters={"msg": b.outputs.parameters["out"]}, dependencies=[a])
    assert str(c.inputs.parameters["msg"].value) == "{{tasks.b.outputs.parameters.out}}"
    assert b.dependency_names() == {"a"}
    assert c.dependency_names() == {"a", "b"}
    dag = DAG("d", tasks=[a, b, c])
    assert dag.dependency_graph() == {"a": set(), "b": {"a"}, "c": {"a", "b"}}


def test_template_defaults_and_missing_values():
    t = echo_template()
    s = Step("s", t, parameters={"msg": "m"})
    assert s.inputs.parameters["n"].value == 1
    assert s.inputs.parameters["msg"].value == "m"
    assert Step("s2", t).inputs.parameters["msg"].value is MISSING
    # the template's own declaration is untouched by steps
    assert t.inputs.parameters["msg"].value is MISSING


@pytest.mark.parametrize("bad", ["", "-x", "a_b", "a b", "é"])
def test_step_name_rules(bad):
    with pytest.raises(ValueError, match="name .* is invalid"):
        Step(bad, echo_template())


@pytest.mark.parametrize("bad", ["Hello", "a_b", "-a", "a-"])
def test_workflow_name_rules(bad):
    with pytest.raises(ValueError, match="RFC 1123"):
        Workflow(name=bad)


def test_parameter_name_rules():
    t = ShellOPTemplate(name="x")
    with pytest.raises(ValueError, match="invalid parameter/artifact name 'a b'"):
        t.inputs.parameters["a b"] = InputParameter()


def test_unknown_argument_names_are_rejected_with_a_suggestion():
    with pytest.raises(KeyError, match="has no input parameter 'mgs'.*did you mean 'msg'"):
        Step("s", echo_template(), parameters={"mgs": "x"})
    with pytest.raises(KeyError, match="has no input artifact 'dat'.*did you mean 'data'"):
        Step("s", echo_template(), artifacts={"dat": None})


def test_template_must_be_a_template():
    with pytest.raises(TypeError, match="template must be an OP template"):
        Step("s", "not a template")


def test_expression_algebra():
    t = echo_template()
    a = Step("a", t, parameters={"msg": "x"})
    p = a.outputs.parameters["out"]
    assert (p < 3).expr == "asFloat(steps['a'].outputs.parameters['out']) < 3"
    assert (p == "x").expr == "steps['a'].outputs.parameters['out'] == 'x'"
    assert (p + 1).expr == "(asFloat(steps['a'].outputs.parameters['out']) + 1)"
    assert str(p[0]) == "{{=jsonpath(steps['a'].outputs.parameters['out'], '$')[0]}}"
    cond = if_expression(p < 3, "low", "high")
    assert str(cond) == (
        "{{=((asFloat(steps['a'].outputs.parameters['out']) < 3) ? 'low' : 'high')}}"
    )


def test_loop_helpers():
    assert str(argo_range(3)) == "{{=toJson(sprig.untilStep(0, 3, 1))}}"
    assert argo_range(1, 7, 2).static_items() == [1, 3, 5]
    p = InputParameter(name="n")
    assert argo_range(p).expr == "toJson(sprig.untilStep(0, sprig.atoi(inputs.parameters['n']), 1))"
    assert argo_range(argo_len(p)).expr == (
        "toJson(sprig.untilStep(0, len(sprig.fromJson(inputs.parameters['n'])), 1))"
    )
    assert argo_sum(p).expr.startswith("int(sum(")
    assert argo_sequence(count=3, format="%02d").rendered() == {"count": "3", "format": "%02d"}
    with pytest.raises(ValueError, match="either count or end"):
        argo_sequence(count=3, end=4)
    e = argo_enumerate(a=[1, 2])
    assert "'order': #" in e.expr


def test_workflow_add_creates_entrypoint_of_the_right_kind():
    wf = Workflow(name="w")
    wf.add(Step("a", echo_template(), parameters={"msg": "x"}))
    assert isinstance(wf.entrypoint, Steps) and wf.entrypoint.name == "w-steps"
    wf2 = Workflow(name="w2")
    wf2.add(Task("a", echo_template(), parameters={"msg": "x"}))
    assert isinstance(wf2.entrypoint, DAG)
    with pytest.raises(TypeError, match="use Task"):
        wf2.add(Step("b", echo_template(), parameters={"msg": "x"}))


def test_with_blocks_auto_add_steps():
    with Steps(name="inner") as inner:
        Step("a", echo_template(), parameters={"msg": "x"})
        Step("b", echo_template(), parameters={"msg": "y"})
    assert [[s.name for s in g] for g in inner.steps] == [["a"], ["b"]]


def test_parallelism_of_steps_lowers_template_parallelism():
    st = Steps(name="p", parallelism=8)
    st.add(Step("a", echo_template(), parameters={"msg": "x"}, parallelism=3))
    assert st.parallelism == 3


def test_copy_renames_and_keeps_io_independent():
    t = echo_template()
    c = t.copy()
    assert c.name.startswith("echo-") and c.name != t.name
    c.inputs.parameters["msg"].value = "changed"
    assert t.inputs.parameters["msg"].value is MISSING
    assert c.inputs.parameters["msg"].template is c


def test_list_argument_with_references_renders_json_placeholders():
    t = echo_template()
    a = Step("a", t, parameters={"msg": "x"})
    text = render_value([1, a.outputs.parameters["out"]])
    assert text == "[1, {{=toJson(steps['a'].outputs.parameters['out'])}}]"


def test_constructing_a_python_op_template_does_no_io(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from dflow.python import OP, PythonOPTemplate

    @OP.function
    def add(a: int, b: int = 2) -> {"c": int}:
        return {"c": a + b}

    t = PythonOPTemplate(add, image="python:3.11")
    s = Step("s", t, parameters={"a": 1})
    assert s.inputs.parameters["b"].value == 2
    assert t.inputs.parameters["a"].type is int
    assert t.outputs.parameters["c"].value_from_path == "/tmp/outputs/parameters/c"
    assert list(tmp_path.iterdir()) == []


def test_function_op_called_in_a_workflow_block_adds_tasks(monkeypatch):
    from dflow.python import OP

    @OP.function
    def add(a: int, b: int) -> {"c": int}:
        return {"c": a + b}

    assert add(a=1, b=2) == {"c": 3}  # outside a block the function runs
    wf = Workflow(name="fn")
    monkeypatch.setattr(wf, "submit", lambda: None)
    with wf:
        first = add(a=1, b=2)
        add(a=first["c"], b=3)
    assert [t.name for t in wf.entrypoint.tasks] == ["add", "add-2"]
    assert wf.entrypoint.dependency_graph() == {"add": set(), "add-2": {"add"}}
    with pytest.raises(TypeError, match="unexpected arguments \\['z'\\]"), Workflow(name="x"):
        add(a=1, b=2, z=3)

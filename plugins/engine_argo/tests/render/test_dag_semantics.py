"""DAG semantics as pydflow has them, in manifests Argo accepts: ``depends`` on Succeeded,
continued failures, and defaults of Python OP outputs.

``depends`` strings are evaluated the way Argo's controller does
(``workflow/controller/dag.go`` ``evaluateDependsLogic``, v3.7.18: each task name bound to its
results ``Succeeded/Failed/Errored/Skipped/Omitted/Daemoned``, ``-`` read as ``_``) with our
expr-lang evaluator; manifests pass both strict schemas and the linter (``render`` fixture).
"""

from __future__ import annotations

import argo_render_ops as ops
import pytest
from dflow import DAG, InputParameter, OutputParameter, ShellOPTemplate, Step, Steps, Task, Workflow
from dflow.expressions import evaluate
from dflow.python import OP, OPIO, OPIOSign, Parameter, PythonOPTemplate
from dflow.storage import S3Artifact
from sandbox import template

RESULTS = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned")


def runs(depends: str, **phases: str) -> bool:
    """Whether Argo starts a task with ``depends`` given its dependencies' phases."""
    scope = {
        name.replace("-", "_"): {r: phase == r.replace("Errored", "Error") for r in RESULTS}
        for name, phase in phases.items()
    }
    return bool(evaluate(depends.replace("-", "_"), scope))


def shell(name="hello"):
    t = ShellOPTemplate(name=name, image="alpine:3", script="echo {{inputs.parameters.msg}}")
    t.inputs.parameters = {"msg": InputParameter(value="hi")}
    t.outputs.parameters = {"out": OutputParameter(value_from_path="/tmp/out", default="none")}
    return t


def tasks_of(render, dag):
    return template(render(Workflow(name="dag", dag=dag)), dag.name)["dag"]["tasks"]


def test_a_task_after_a_skipped_one_does_not_run(render):
    dag = DAG(name="d")
    a = Task("a", shell(), when="1 == 2")
    b = Task("b", shell(), parameters={"msg": a.outputs.parameters["out"]})
    dag.add([a, b])
    depends = tasks_of(render, dag)[1]["depends"]
    assert depends == "a.Succeeded"  # pydflow's (a.Succeeded); a bare "a" admits Skipped
    assert runs(depends, a="Succeeded")
    assert not runs(depends, a="Skipped") and not runs(depends, a="Failed")
    assert not runs(depends, a="Omitted")


def test_continued_dependencies_let_dependents_run(render):
    dag = DAG(name="d")
    a = Task("a", shell(), continue_on_failed=True)
    b = Task("b", shell(), parameters={"msg": a.outputs.parameters["out"]}, continue_on_error=True)
    c = Task("c", shell(), dependencies=[b], when=f"{a.outputs.parameters['out']} == hi")
    dag.add([a, b, c])
    tasks = tasks_of(render, dag)
    assert [t.get("depends") for t in tasks] == [
        None,
        "(a.Succeeded || a.Failed)",
        "(a.Succeeded || a.Failed) && (b.Succeeded || b.Errored)",
    ]
    assert not any("continueOn" in t for t in tasks)  # Argo refuses it next to depends
    c_dep = tasks[2]["depends"]
    assert runs(c_dep, a="Failed", b="Error") and runs(c_dep, a="Succeeded", b="Succeeded")
    assert not runs(c_dep, a="Error", b="Succeeded") and not runs(c_dep, a="Failed", b="Failed")
    assert not runs(c_dep, a="Skipped", b="Succeeded")


def test_a_continued_task_nothing_depends_on_keeps_its_continue(render):
    """Regression: continueOn of a task without dependencies nor dependents was dropped in a
    DAG with depends, so its failure failed the workflow."""
    dag = DAG(name="d")
    a = Task("a", shell())
    b = Task("b", shell(), dependencies=[a])
    c = Task("c", shell(), continue_on_failed=True)  # no dependency, no dependent
    d = Task("d", shell(), dependencies=[a], continue_on_failed=True, continue_on_error=True)
    dag.add([a, b, c, d])
    m = render(Workflow(name="dag", dag=dag))
    tasks = template(m, "d")["dag"]["tasks"]
    assert [(t["name"], t["template"], t.get("depends")) for t in tasks] == [
        ("a", "hello", None),
        ("b", "hello", "a.Succeeded"),
        ("c", "hello", None),
        ("c-continue", "dflow-continue", "c.Failed"),
        ("d", "hello", "a.Succeeded"),
        ("d-continue", "dflow-continue", "d.Failed || d.Errored"),
    ]
    # the sink is the target task Argo assesses instead: it runs exactly when the failure is
    # to be continued, and has no pod
    assert runs("c.Failed", c="Failed") and not runs("c.Failed", c="Error")
    assert template(m, "dflow-continue") == {"name": "dflow-continue", "suspend": {"duration": "0"}}
    assert render.renderer.manifest(render.renderer.from_dict(m)) == m  # reads back unchanged


def test_a_dag_without_depends_keeps_plain_continue_on(render):
    dag = DAG(name="d")
    dag.add([Task("a", shell(), continue_on_failed=True), Task("b", shell())])
    tasks = tasks_of(render, dag)
    assert tasks == [
        {"name": "a", "template": "hello", "continueOn": {"failed": True}},
        {"name": "b", "template": "hello"},
    ]


def test_steps_keep_continue_on(render):
    steps = Steps(name="s")
    steps.add(Step("a", shell(), continue_on_failed=True))
    steps.add(Step("b", shell()))
    m = render(Workflow(name="st", steps=steps))
    assert template(m, "s")["steps"][0][0]["continueOn"] == {"failed": True}


def test_dag_success_ratio_check_gates_dependents(render):
    dag = DAG(name="d")
    a = Task(
        "a",
        PythonOPTemplate(ops.square),
        parameters={"x": "{{item}}"},
        with_param=[1, 2, 3],
        continue_on_num_success=2,
    )
    b = Task(
        "b", PythonOPTemplate(ops.cat), dependencies=[a], artifacts={"files": S3Artifact(key="k")}
    )
    dag.add([a, b])
    tasks = tasks_of(render, dag)
    assert [(t["name"], t.get("depends")) for t in tasks] == [
        ("a", None),
        ("a-check", "(a.Succeeded || a.Failed || a.Errored)"),
        ("b", "a-check.Succeeded"),
    ]
    assert not runs(tasks[1]["depends"], a="Skipped")  # nothing to check: no false failure


class Outs(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"s": str, "i": int, "p": Parameter(int, default=3), "q": Parameter(str)})

    @OP.exec_sign_check
    def execute(self, op_in):
        return OPIO({"s": "x", "i": 1, "p": 3, "q": "y"})


def test_python_op_outputs_keep_a_default_as_pydflow(render):
    """Outputs typed by a bare type default to null (pydflow's valueFrom.default 'null'), so
    a downstream reference resolves when the OP failed or was skipped; a Parameter without a
    default keeps none."""
    m = render(
        Workflow(name="outs", steps=Steps(name="s", steps=[Step("o", PythonOPTemplate(Outs))]))
    )
    defaults = {
        p["name"]: p["valueFrom"].get("default")
        for p in template(m, "outs")["outputs"]["parameters"]
    }
    assert defaults == {"s": "null", "i": "null", "p": "3", "q": None}


@pytest.mark.parametrize("result", RESULTS)
def test_runs_reads_one_result(result):
    phase = result.replace("Errored", "Error")
    assert runs(f"a.{result}", a=phase) and not runs(f"a.{result}", a="Running")

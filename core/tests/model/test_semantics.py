"""``dflow.semantics``: the DAG ``depends`` rule and ``continueOn``, as Argo's controller reads
them (``workflow/controller/dag.go`` ``evaluateDependsLogic``, ``workflow_types.go``
``continues``; v3.7.18 and v4.1.2)."""

from __future__ import annotations

import pytest
from dflow import DAG, ShellOPTemplate, Task
from dflow.semantics import (
    continues,
    dependency_term,
    depends_expression,
    depends_met,
    depends_term,
    task_results,
)

PHASES = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")


def _shell():
    return ShellOPTemplate(name="s", image="alpine:3", script="true")


def test_terms_admit_success_and_the_continued_failures_only():
    assert depends_term("a") == "a.Succeeded"
    assert depends_term("a", failed=True, errored=True) == "(a.Succeeded || a.Failed || a.Errored)"
    plain = Task("a", _shell())
    assert [p for p in PHASES if depends_met(dependency_term(plain), {"a": p})] == ["Succeeded"]
    failed = Task("a", _shell(), continue_on_failed=True)
    assert [p for p in PHASES if depends_met(dependency_term(failed), {"a": p})] == [
        "Succeeded",
        "Failed",
    ]
    errored = Task("a", _shell(), continue_on_error=True)
    assert [p for p in PHASES if depends_met(dependency_term(errored), {"a": p})] == [
        "Succeeded",
        "Error",
    ]


def test_a_threshold_decides_alone():
    """A fan-out with continue_on_num_success (which sets continue_on_failed, as in pydflow)
    lets its dependents run only when it Succeeded, i.e. when the threshold was met; on Argo
    the term names its success check."""
    t = Task("fan", _shell(), with_param=[1, 2], continue_on_num_success=1)
    assert t.continue_on_failed
    assert dependency_term(t) == "fan.Succeeded"
    assert dependency_term(t, "fan-check") == "fan-check.Succeeded"
    assert not continues(t, "Failed")


def test_the_expression_of_a_task_lists_its_dependencies_in_name_order():
    dag = DAG("d")
    b = Task("b-1", _shell(), continue_on_error=True)
    a = Task("a", _shell(), continue_on_failed=True)
    c = Task("c", _shell(), dependencies=[b, a])
    dag.add([b, a, c])
    tasks = {t.name: t for t in dag.tasks}
    expr = depends_expression(c, tasks)
    assert expr == "(a.Succeeded || a.Failed) && (b-1.Succeeded || b-1.Errored)"
    assert depends_expression(a, tasks) == ""
    assert depends_met(expr, {"a": "Failed", "b-1": "Error"})  # "-" read as "_", as Argo
    assert not depends_met(expr, {"a": "Skipped", "b-1": "Succeeded"})
    assert depends_met("", {})


def test_continues_follows_argo():
    step = Task("a", _shell(), continue_on_failed=True)
    assert continues(step, "Failed") and not continues(step, "Error")
    step = Task("a", _shell(), continue_on_error=True)
    assert continues(step, "Error") and not continues(step, "Failed")
    assert all(continues(Task("a", _shell()), p) for p in ("Succeeded", "Skipped", "Omitted"))


@pytest.mark.parametrize("phase", PHASES)
def test_task_results_name_one_result(phase):
    results = task_results(phase)
    assert [r for r, on in results.items() if on] == [phase.replace("Error", "Errored")]


def test_a_malformed_expression_is_a_clear_error():
    with pytest.raises(ValueError, match=r"depends 'a\.Succeeded &&': "):
        depends_met("a.Succeeded &&", {"a": "Succeeded"})


def test_a_step_executor_must_be_an_executor():
    # one rule for both engines: Argo used to call render() on anything, the local engine ran
    # the step itself
    from dflow import ShellOPTemplate, Step
    from dflow.executor import Executor

    tmpl = ShellOPTemplate(image="alpine", script="echo hi")
    with pytest.raises(TypeError) as info:
        Step("run", tmpl, executor="slurm")
    assert "Step 'run': executor must be a dflow Executor" in str(info.value)
    assert "got str 'slurm'" in str(info.value)

    class Mine(Executor):
        def render(self, template):
            return template

    assert isinstance(Step("run", tmpl, executor=Mine()).executor, Mine)
    assert Step("run", tmpl).executor is None

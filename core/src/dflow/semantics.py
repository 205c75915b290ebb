"""When a step runs and when its failure stops its template: one rule for both engines.

The Argo renderer writes these rules into manifests (``depends`` of DAG tasks); the local
engine evaluates the very same strings and predicates, so a workflow takes the same path on
both. They follow Argo's controller at v3.7.18 and v4.1.2, and pydflow on Argo:

* A DAG task runs when each task it depends on **Succeeded** (pydflow's ``(a.Succeeded)``), or
  also ``Failed``/``Errored`` when that task has ``continue_on_failed``/``continue_on_error``.
  A bare ``a`` would admit a Skipped ``a`` too (``workflow/common/ancestry.go``
  ``expandDependency``), which pydflow never wrote.
* A task whose ``depends`` does not hold is **Omitted**: a node of type ``Skipped`` and phase
  ``Omitted`` with the message :data:`OMITTED_MESSAGE` (``workflow/controller/dag.go``
  ``executeDAGTask``); so are its own dependents, in turn. A DAG whose branch ends in an
  omitted task takes the phase of the last task that ran in that branch (``assessDAGPhase``):
  after a Skipped task it succeeds.
* A loop (``with_param``/``with_sequence``/sliced) without items is **Skipped**, like a step
  whose ``when`` is false: its outputs are their declared defaults and its DAG dependents are
  omitted (``executeDAGTask``; ``steps.go`` ``expandStepGroup``).
* A Steps group waits for all its steps; a Skipped step does not stop the next group, a
  Failed/Errored one does unless it continues on that phase (``workflow/controller/steps.go``
  ``executeStepGroup``).
* ``continue_on_failed`` continues a ``Failed`` step, ``continue_on_error`` an ``Errored`` one
  (``pkg/apis/workflow/v1alpha1/workflow_types.go`` ``continues``). A step with
  ``continue_on_num_success``/``continue_on_success_ratio`` is judged by its threshold alone:
  it Succeeded when enough items did.

>>> depends_term("a", failed=True)
'(a.Succeeded || a.Failed)'
>>> depends_met("a.Succeeded", {"a": "Skipped"})
False
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import expressions as ex

#: The results a ``depends`` term can test (Argo's ``TaskResults``, dag.go).
RESULTS = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned")

#: The message of an omitted task, as Argo's controller writes it (dag.go, v3.7.18).
OMITTED_MESSAGE = "omitted: depends condition not met"
#: The message of a loop without items, skipped (dag.go and steps.go, v3.7.18).
EMPTY_LOOP_MESSAGE = "Skipped, empty params"

FAILED_PHASES = ("Failed", "Error")


def has_threshold(step: Any) -> bool:
    """Whether ``step`` succeeds by a count or ratio of its items."""
    return step.continue_on_num_success is not None or step.continue_on_success_ratio is not None


def continues(step: Any, phase: str) -> bool:
    """Whether ``step`` ending in ``phase`` lets its template go on (Argo's ``ContinuesOn``).

    A step with a success threshold does not continue: when it ends Failed, the threshold
    was not met.
    """
    if phase not in FAILED_PHASES:
        return True
    if has_threshold(step):
        return False
    if phase == "Failed":
        return bool(step.continue_on_failed)
    return bool(step.continue_on_error)


def depends_term(name: str, *, failed: bool = False, errored: bool = False) -> str:
    """The ``depends`` term that waits for task ``name`` to succeed (or fail / error)."""
    parts = [f"{name}.Succeeded"]
    parts += [f"{name}{r}" for r, on in ((".Failed", failed), (".Errored", errored)) if on]
    return parts[0] if len(parts) == 1 else f"({' || '.join(parts)})"


def dependency_term(dep: Any, name: str | None = None) -> str:
    """The term that waits for step ``dep``; ``name`` is the node to test instead of ``dep``
    itself (on Argo the success check of a fan-out with a threshold)."""
    name = name or dep.name
    if has_threshold(dep):
        return depends_term(name)  # the threshold decides; Failed means it was not met
    return depends_term(
        name, failed=bool(dep.continue_on_failed), errored=bool(dep.continue_on_error)
    )


def depends_expression(task: Any, tasks: Mapping[str, Any]) -> str:
    """The ``depends`` of ``task`` in a DAG whose tasks are ``tasks`` (by name): the terms
    of its dependencies in name order, joined by ``&&`` ("" without dependencies)."""
    terms = [
        dependency_term(tasks[d]) if d in tasks else depends_term(d)
        for d in sorted(task.dependency_names())
    ]
    return " && ".join(terms)


def task_results(phase: str) -> dict[str, bool]:
    """What a ``depends`` term sees of a dependency that ended in ``phase``."""
    return {r: phase == ("Error" if r == "Errored" else r) for r in RESULTS}


def depends_met(expression: str, phases: Mapping[str, str]) -> bool:
    """Whether a task with ``depends`` = ``expression`` runs, its dependencies having ended
    in ``phases`` (task name -> phase). Evaluated as Argo does (``evaluateDependsLogic``,
    dag.go): each name bound to its results, ``-`` read as ``_``."""
    if not expression.strip():
        return True
    scope = {name.replace("-", "_"): task_results(phase) for name, phase in phases.items()}
    try:
        return ex.evaluate(expression.replace("-", "_"), scope) is True
    except ex.ExpressionError as exc:
        raise ValueError(f"depends {expression!r}: {exc}") from None

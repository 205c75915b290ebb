"""Workflow management: a workflow's id and status, its steps, and finding it again later.

    python examples/workflow_management.py

After ``submit()``, ``wf.id`` names the run; ``query_status()`` says ``Pending``, ``Running``,
``Succeeded``, ``Failed``...; ``query_step()`` returns steps filtered by ``name`` (a regular
expression), ``key``, ``phase`` or ``type``, each with ``phase`` and ``outputs``. Any process can
attach to a run with ``Workflow(id=...)``, and the ``dflow`` command shows the same runs
(``dflow list``, ``dflow get <id>``).
"""

from __future__ import annotations

from dflow import Step, Workflow
from dflow.python import OP, PythonOPTemplate


@OP.function
def add(a: int, b: int) -> {"c": int}:
    return {"c": a + b}


def build() -> Workflow:
    wf = Workflow(name="manage")
    first = Step("add-one", PythonOPTemplate(add), parameters={"a": 1, "b": 1})
    wf.add(first)
    wf.add(
        Step(
            "add-two",
            PythonOPTemplate(add),
            parameters={"a": first.outputs.parameters["c"], "b": 2},
        )
    )
    return wf


def main() -> Workflow:
    wf = build()
    wf.submit()
    print(f"submitted {wf.id}: {wf.query_status()}")
    for step in wf.query_step(name="add-.*", phase="Succeeded"):
        print(f"  {step.displayName}: {step.phase}, c = {step.outputs.parameters['c'].value}")

    again = Workflow(id=wf.id)  # e.g. in another script, days later
    [last] = again.query_step(name="add-two")
    print(
        f"attached to {again.id}: {again.query_status()}, add-two gave {last.outputs.parameters['c'].value}"
    )
    return again


if __name__ == "__main__":
    main()

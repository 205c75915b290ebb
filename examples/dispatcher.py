"""Steps through DPDispatcher: here its ``Shell`` batch on this machine, no cluster needed.

    python examples/dispatcher.py

``DispatcherExecutor`` (the ``dflow-executor-dispatcher`` plugin) hands a script step to
DPDispatcher, which writes a job script for the batch system, submits it, polls it and brings
the outputs back. Without ``host`` it submits here (DPDispatcher's ``LocalContext``); with
``host="login.cluster"`` it goes over SSH; ``machine_dict={"batch_type": "Slurm"}`` (or
``"PBS"``, ``"LSF"``, ``"Bohrium"``...) picks the scheduler; ``resources_dict`` and
``task_dict`` take DPDispatcher's own keys. docs/slurm.md has the cluster setups.
"""

from __future__ import annotations

from dflow import OutputParameter, ShellOPTemplate, Step, Workflow
from dflow.plugins.dispatcher import DispatcherExecutor
from dflow.python import OP, PythonOPTemplate


@OP.function
def square(x: int) -> {"y": int}:
    return {"y": x * x}


def hostname() -> ShellOPTemplate:
    t = ShellOPTemplate(name="where", image="alpine:3.20", script="echo ran in a job > /tmp/w")
    t.outputs.parameters = {"where": OutputParameter(value_from_path="/tmp/w")}
    return t


def build(executor: DispatcherExecutor | None = None) -> Workflow:
    executor = executor or DispatcherExecutor(machine_dict={"batch_type": "Shell"})
    wf = Workflow(name="dispatcher")
    wf.add(
        [
            Step("where", hostname(), executor=executor),
            Step("square", PythonOPTemplate(square), parameters={"x": 7}, executor=executor),
        ]
    )
    return wf


def main() -> Workflow:
    wf = build()
    wf.submit()
    print(f"where: {wf.query_step(name='where')[0].outputs.parameters['where'].value}")
    print(f"square: {wf.query_step(name='square')[0].outputs.parameters['y'].value}")
    return wf


if __name__ == "__main__":
    main()

"""A fan-out over a sliced input artifact: N slices, each reading its own file of one artifact.

A first step writes N files as one ``Artifact(List[Path])``; the fan-out
(``Slices("{{item}}", input_artifact=["f"], output_parameter=["v"])`` over ``argo_range(N)``)
hands slice i the whole artifact and its OP item i (the worker picks it from the catalog); each
slice outputs the number in its file. The result must be sum(7 * i) over range(N), with the
values in slice order.

    DFLOW_MODE=debug python fanout_artifact.py [N=1000]

Public pydflow API only (see ``fanout.py``). Prints one ``RESULT {json}`` line.
"""

# no `from __future__ import annotations`: pydflow reads OP.function annotations as objects

import os
import sys
from pathlib import Path
from typing import List  # noqa: UP035 (pydflow matches typing.List in signs)

from dflow import Step, Workflow, argo_range
from dflow.python import OP, Artifact, PythonOPTemplate, Slices


@OP.function
def make(n: int) -> {"files": Artifact(List[Path])}:  # noqa: F821, UP006
    paths = []
    for i in range(n):
        path = Path(f"f{i}.txt")
        path.write_text(str(7 * i))
        paths.append(path)
    return {"files": paths}


@OP.function
def read(f: Artifact(Path)) -> {"v": int}:  # noqa: F821
    return {"v": int(Path(f).read_text())}


def build(n: int) -> Workflow:
    maker = Step("make", PythonOPTemplate(make, image="python:3.8"), parameters={"n": n})
    fan = Step(
        "read",
        PythonOPTemplate(
            read,
            image="python:3.8",
            slices=Slices("{{item}}", input_artifact=["f"], output_parameter=["v"]),
        ),
        artifacts={"f": maker.outputs.artifacts["files"]},
        with_param=argo_range(n),
    )
    wf = Workflow(name="fanout-artifact")
    wf.add(maker)
    wf.add(fan)
    return wf


def check(wf: Workflow, n: int) -> tuple[bool, dict]:
    steps = [s for s in wf.query_step(name="read") if s.type == "StepGroup"]
    values = [int(v) for v in steps[0].outputs.parameters["v"].value]
    ok = values == [7 * i for i in range(n)]
    return ok, {"count": len(values), "sum": sum(values), "expected": 7 * n * (n - 1) // 2}


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import n_from_argv, run_and_report

    n = n_from_argv(1000)
    wf = build(n)
    run_and_report(n, wf, lambda w: check(w, n))


if __name__ == "__main__":
    main()

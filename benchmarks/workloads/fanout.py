"""Workloads (b) and (c): a fan-out of N function-OP slices, then a reduce step.

Slice i gets ``x = i`` and produces ``y = x * x`` and a file holding ``x``; the outputs are
stacked (Slices ``output_parameter`` / ``output_artifact``) and a reduce step sums both. The
result must be sum(i*i) and sum(i) over range(N).

    DFLOW_MODE=debug python fanout.py [N=1000]

Written only with the public pydflow API, so the same file runs under pydflow's debug mode and
under dflow's local engine. Prints one ``RESULT {json}`` line (see ``_common.py``).
"""

# no `from __future__ import annotations`: pydflow reads OP.function annotations as objects

import os
import sys
from pathlib import Path
from typing import List  # noqa: UP035 (pydflow matches typing.List in signs)

from dflow import Step, Workflow
from dflow.python import OP, Artifact, PythonOPTemplate, Slices


@OP.function
def square(x: int) -> {"y": int, "out": Artifact(Path)}:  # noqa: F821
    # a distinct name per slice: stacked slices share one output directory
    path = Path(f"x{x}.txt")
    path.write_text(str(x))
    return {"y": x * x, "out": path}


@OP.function
def reduce(
    ys: List[int],  # noqa: UP006
    files: Artifact(List[Path]),  # noqa: UP006
) -> {"sum_y": int, "sum_x": int, "count": int}:  # noqa: F821
    return {
        "sum_y": sum(int(y) for y in ys),
        "sum_x": sum(int(Path(f).read_text()) for f in files),
        "count": len(files),
    }


def build(n: int) -> Workflow:
    fan = Step(
        "square",
        PythonOPTemplate(
            square,
            image="python:3.8",
            slices=Slices(input_parameter=["x"], output_parameter=["y"], output_artifact=["out"]),
        ),
        parameters={"x": list(range(n))},
    )
    red = Step(
        "reduce",
        PythonOPTemplate(reduce, image="python:3.8"),
        parameters={"ys": fan.outputs.parameters["y"]},
        artifacts={"files": fan.outputs.artifacts["out"]},
    )
    wf = Workflow(name="fanout")
    wf.add(fan)
    wf.add(red)
    return wf


def check(wf: Workflow, n: int) -> tuple[bool, dict]:
    out = wf.query_step(name="reduce")[0].outputs.parameters
    got = {k: int(out[k].value) for k in ("sum_y", "sum_x", "count")}
    expected = {"sum_y": (n - 1) * n * (2 * n - 1) // 6, "sum_x": n * (n - 1) // 2, "count": n}
    return got == expected, {"got": got, "expected": expected}


def main() -> None:
    # imported here, not at the top: pydflow inlines this module's source above the OP into
    # each step's script, which runs elsewhere and could not import _common
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import n_from_argv, run_and_report

    n = n_from_argv(1000)
    wf = build(n)
    run_and_report(n, wf, lambda w: check(w, n))


if __name__ == "__main__":
    main()

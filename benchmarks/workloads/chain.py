"""Workload (a): a chain of N function-OP steps passing a parameter and a file artifact.

Step i reads the integer parameter ``x`` and the file artifact ``inp`` written by step i-1,
and produces ``y = x + 1`` and a file holding the file's number plus one. The last step must
therefore output N and a file containing N.

    DFLOW_MODE=debug python chain.py [N=50]

Written only with the public pydflow API, so the same file runs under pydflow's debug mode and
under dflow's local engine. Prints one ``RESULT {json}`` line (see ``_common.py``).
"""

# no `from __future__ import annotations`: pydflow reads OP.function annotations as objects

import os
import sys
from pathlib import Path

from dflow import Step, Workflow, download_artifact, upload_artifact
from dflow.python import OP, Artifact, PythonOPTemplate


@OP.function
def inc(x: int, inp: Artifact(Path)) -> {"y": int, "out": Artifact(Path)}:  # noqa: F821
    value = int(Path(inp).read_text())
    Path("out.txt").write_text(str(value + 1))
    return {"y": x + 1, "out": Path("out.txt")}


def build(n: int, seed) -> Workflow:
    wf = Workflow(name="chain")
    template = PythonOPTemplate(inc, image="python:3.8")
    x, art = 0, seed
    for i in range(n):
        step = Step(f"inc-{i}", template, parameters={"x": x}, artifacts={"inp": art})
        wf.add(step)
        x, art = step.outputs.parameters["y"], step.outputs.artifacts["out"]
    return wf


def check(wf: Workflow, n: int, base: str) -> tuple[bool, dict]:
    last = wf.query_step(name=f"inc-{n - 1}")[0]
    y = int(last.outputs.parameters["y"].value)
    paths = download_artifact(last.outputs.artifacts["out"], path=os.path.join(base, "result"))
    content = int(Path(paths[0]).read_text())
    return (y == n and content == n), {"y": y, "file": content, "expected": n}


def main() -> None:
    # imported here, not at the top: pydflow inlines this module's source above the OP into
    # each step's script, which runs elsewhere and could not import _common
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import n_from_argv, run_and_report

    n = n_from_argv(50)
    base = os.getcwd()  # pydflow's debug mode chdirs during submit: keep absolute paths
    Path(base, "seed.txt").write_text("0")
    wf = build(n, upload_artifact(os.path.join(base, "seed.txt")))
    run_and_report(n, wf, lambda w: check(w, n, base))


if __name__ == "__main__":
    main()

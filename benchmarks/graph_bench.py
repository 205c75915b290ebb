"""Pictures of big workflows: a 10,000-slice fan-out (and 1,000 steps in one Steps) drawn as
mermaid, DOT and SVG, and the phase overlay of 10,000 queried steps.

Baseline: building the same workflow (its constructor calls), measured in the same run:
drawing a workflow should cost about what writing it down costs. Fan-outs fold into one node, so the 10,000-slice graph is as
small as its source; the 1,000-step Steps shows the layout's cost on a genuinely big graph.

    .venv/bin/python benchmarks/graph_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

from dflow import InputParameter, ShellOPTemplate, Step, Workflow, argo_range
from dflow.graph import collect

QUICK = ["--repeat", "2"]


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def fanout() -> Workflow:
    t = ShellOPTemplate(name="sq", image="alpine:3", script="echo {{inputs.parameters.x}}")
    t.inputs.parameters["x"] = InputParameter()
    wf = Workflow("fanout")
    wf.add(Step("square", t, parameters={"x": "{{item}}"}, with_param=argo_range(10_000)))
    wf.add(Step("sum", t, parameters={"x": 0}))
    return wf


def wide() -> Workflow:
    t = ShellOPTemplate(name="sq", image="alpine:3", script="echo {{inputs.parameters.x}}")
    t.inputs.parameters["x"] = InputParameter()
    wf = Workflow("wide")
    for i in range(100):
        wf.add([Step(f"s{i}-{j}", t, parameters={"x": j}) for j in range(10)])
    return wf


def queried(n: int) -> list[dict]:
    """What ``query_step()`` returns for a workflow with an ``n``-item fan-out (Argo shape)."""
    steps = [{"id": "wf", "name": "wf", "displayName": "wf", "type": "Steps", "phase": "Running"}]
    steps.append(
        {"id": "g", "name": "wf[0]", "displayName": "[0]", "type": "StepGroup", "boundaryID": "wf"}
    )
    for i in range(n):
        phase = "Failed" if i % 500 == 0 else "Succeeded" if i % 7 else "Running"
        steps.append(
            {
                "id": f"p{i}",
                "name": f"wf[0].square({i}:{i})",
                "displayName": f"square({i}:{i})",
                "type": "Pod",
                "phase": phase,
                "boundaryID": "wf",
            }
        )
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for name, build in (("10,000-slice fan-out", fanout), ("1,000 steps (100 groups)", wide)):
        wf = build()
        base = _best(build, args.repeat)
        for fmt in ("mermaid", "dot", "svg"):
            method = getattr(wf, f"to_{fmt}")
            t = _best(lambda m=method: m(phases=False), args.repeat)
            rows.append((name, fmt, t, base))
    steps = queried(10_000)
    t = _best(lambda: collect(steps, "wf"), args.repeat)
    rows.append(("10,000 queried steps", "phase overlay", t, None))
    print(f"{'graph':<26} {'output':<14} {'ms':>9} {'build ms':>14} {'ratio':>7}")
    for name, fmt, t, base in rows:
        ratio = f"{t / base:7.2f}" if base else "      -"
        base_text = f"{base * 1000:14.3f}" if base else "             -"
        print(f"{name:<26} {fmt:<14} {t * 1000:9.3f} {base_text} {ratio}")


if __name__ == "__main__":
    main()

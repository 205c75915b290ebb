"""Parallel steps: with_param (a list, an output, argo_range) and with_sequence."""

from __future__ import annotations

from dflow import Step, Workflow, argo_len, argo_range, argo_sequence
from dflow.python import OP, PythonOPTemplate


@OP.function
def make_list(n: int) -> {"items": list}:
    return {"items": [f"item-{i}" for i in range(n)]}


@OP.function
def shout(msg: str) -> {"out": str}:
    return {"out": msg.upper()}


@OP.function
def square(x: int) -> {"y": int}:
    return {"y": x * x}


def build(n: int = 4) -> Workflow:
    make = Step("make", PythonOPTemplate(make_list), parameters={"n": n})
    each = Step(
        "shout",
        PythonOPTemplate(shout),
        parameters={"msg": "{{item}}"},
        with_param=make.outputs.parameters["items"],
    )
    rng = Step(
        "square",
        PythonOPTemplate(square),
        parameters={"x": "{{item}}"},
        with_param=argo_range(n),
        key="square-{{item}}",
    )
    seq = Step(
        "seq",
        PythonOPTemplate(shout),
        parameters={"msg": "{{item}}"},
        with_sequence=argo_sequence(argo_len(make.outputs.parameters["items"]), format="no-%02d"),
    )
    wf = Workflow(name="loops")
    wf.add(make)
    wf.add([each, rng, seq])
    return wf


def main() -> Workflow:
    wf = build()
    wf.submit()
    print(wf.query_status())
    for name in ("shout", "square", "seq"):
        step = wf.query_step(name=name)[0]
        print(
            f"  {name}: {[p.value for p in [step.outputs.parameters[k] for k in step.outputs.parameters]]}"
        )
    return wf


if __name__ == "__main__":
    main()

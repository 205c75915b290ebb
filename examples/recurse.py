"""A recursive Steps template: a loop that stops on a `when` condition."""

from __future__ import annotations

from dflow import InputParameter, Step, Steps, Workflow
from dflow.python import OP, PythonOPTemplate


@OP.function
def plus_one(iter: int) -> {"iter": int}:
    return {"iter": iter + 1}


def build(limit: int = 3) -> Workflow:
    loop = Steps(name="iter")
    loop.inputs.parameters = {"iter": InputParameter(type=int), "limit": InputParameter(type=int)}
    add = Step(
        "add",
        PythonOPTemplate(plus_one),
        parameters={"iter": loop.inputs.parameters["iter"]},
        key="iter-{{inputs.parameters.iter}}",
    )
    loop.add(add)
    nxt = Step(
        "next",
        loop,
        parameters={
            "iter": add.outputs.parameters["iter"],
            "limit": loop.inputs.parameters["limit"],
        },
        when="%s < %s" % (add.outputs.parameters["iter"], loop.inputs.parameters["limit"]),
    )
    loop.add(nxt)
    wf = Workflow(name="recurse")
    wf.add(Step("start", loop, parameters={"iter": 0, "limit": limit}))
    return wf


def main() -> Workflow:
    wf = build()
    wf.submit()
    keys = sorted(s.key for s in wf.query_step(name="add"))
    print(f"{wf.query_status()}: ran {keys}")
    return wf


if __name__ == "__main__":
    main()

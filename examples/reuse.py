"""Keys of steps, and reusing finished steps in a new workflow (``submit(reuse_step=...)``).

    python examples/reuse.py

The first workflow computes ``square`` of 0..3, each step keyed ``square-<i>``. The second one
is submitted with the first one's steps as ``reuse_step``: a step whose key matches one of them
does not run again, it takes the reused step's outputs, here after changing one of them with
``modify_output_parameter``.
"""

from __future__ import annotations

from dflow import Step, Workflow, argo_range
from dflow.python import OP, PythonOPTemplate


@OP.function
def square(x: int) -> {"y": int}:
    return {"y": x * x}


@OP.function
def total(ys: list) -> {"sum": int}:
    return {"sum": sum(ys)}


def build(n: int = 4) -> Workflow:
    sq = Step(
        "square",
        PythonOPTemplate(square),
        parameters={"x": "{{item}}"},
        with_param=argo_range(n),
        key="square-{{item}}",
    )
    add = Step("total", PythonOPTemplate(total), parameters={"ys": sq.outputs.parameters["y"]})
    wf = Workflow(name="reuse")
    wf.add(sq)
    wf.add(add)
    return wf


def main() -> list[Workflow]:
    first = build()
    first.submit()
    print(f"first: sum = {first.query_step(name='total')[0].outputs.parameters['sum'].value}")

    reused = first.query_step(key=[f"square-{i}" for i in range(4)])
    three = next(s for s in reused if s.key == "square-3")
    print(f"square-3 gave {three.outputs.parameters['y'].value}; reused as 100")
    three.modify_output_parameter("y", 100)

    second = build()
    second.submit(reuse_step=reused)
    print(f"second: sum = {second.query_step(name='total')[0].outputs.parameters['sum'].value}")
    return [first, second]


if __name__ == "__main__":
    main()

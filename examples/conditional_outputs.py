"""Conditional steps and conditional outputs (`when`, `if_expression`)."""

from __future__ import annotations

from dflow import InputParameter, OutputParameter, Step, Steps, Workflow, if_expression
from dflow.python import OP, PythonOPTemplate


@OP.function
def random_num(seed: int) -> {"num": int}:
    return {"num": seed % 10}


@OP.function
def label(num: int, name: str) -> {"msg": str}:
    return {"msg": f"{name}:{num}"}


def build(seed: int = 7) -> Workflow:
    inner = Steps(name="pick")
    inner.inputs.parameters = {"seed": InputParameter(type=int)}
    gen = Step(
        "gen", PythonOPTemplate(random_num), parameters={"seed": inner.inputs.parameters["seed"]}
    )
    inner.add(gen)
    low = Step(
        "low",
        PythonOPTemplate(label),
        parameters={"num": gen.outputs.parameters["num"], "name": "low"},
        when="%s < 5" % gen.outputs.parameters["num"],
    )
    high = Step(
        "high",
        PythonOPTemplate(label),
        parameters={"num": gen.outputs.parameters["num"], "name": "high"},
        when="%s >= 5" % gen.outputs.parameters["num"],
    )
    inner.add([low, high])
    inner.outputs.parameters = {
        "msg": OutputParameter(
            value_from_expression=if_expression(
                _if=gen.outputs.parameters["num"] < 5,
                _then=low.outputs.parameters["msg"],
                _else=high.outputs.parameters["msg"],
            )
        )
    }
    wf = Workflow(name="conditional")
    wf.add(Step("main", inner, parameters={"seed": seed}))
    return wf


def main() -> Workflow:
    wf = build()
    wf.submit()
    step = wf.query_step(name="main")[0]
    print(f"{wf.query_status()}: {step.outputs.parameters['msg'].value}")  # high:7
    return wf


if __name__ == "__main__":
    main()

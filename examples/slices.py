"""Slices: feed list items to a fan-out and stack the outputs back into lists."""

from __future__ import annotations

from pathlib import Path

from dflow import Step, Workflow
from dflow.python import OP, Artifact, PythonOPTemplate, Slices


@OP.function
def write(msg: str) -> {"file": Artifact(Path), "length": int}:
    path = Path(f"{msg}.txt")
    path.write_text(msg)
    return {"file": path, "length": len(msg)}


@OP.function
def total(files: Artifact(list[Path]), lengths: list) -> {"sum": int, "text": str}:
    text = "".join(Path(f).read_text() for f in files)
    return {"sum": sum(lengths), "text": text}


def build(words: list[str] | None = None) -> Workflow:
    words = words or ["alpha", "beta", "gamma"]
    fan = Step(
        "write",
        PythonOPTemplate(
            write,
            slices=Slices(
                input_parameter=["msg"], output_artifact=["file"], output_parameter=["length"]
            ),
        ),
        parameters={"msg": words},
    )
    reduce = Step(
        "total",
        PythonOPTemplate(total),
        parameters={"lengths": fan.outputs.parameters["length"]},
        artifacts={"files": fan.outputs.artifacts["file"]},
    )
    wf = Workflow(name="slices")
    wf.add(fan)
    wf.add(reduce)
    return wf


def main() -> Workflow:
    wf = build()
    wf.submit()
    step = wf.query_step(name="total")[0]
    print(
        f"{wf.query_status()}: sum={step.outputs.parameters['sum'].value} "
        f"text={step.outputs.parameters['text'].value}"
    )
    return wf


if __name__ == "__main__":
    main()

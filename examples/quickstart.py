"""Quick start: a Python OP and a shell step passing a parameter and a file, run locally.

    python examples/quickstart.py

Runs on the local engine (the default) and prints what each step produced.
"""

from __future__ import annotations

from pathlib import Path

from dflow import (
    InputArtifact,
    InputParameter,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Workflow,
    download_artifact,
    upload_artifact,
)
from dflow.python import OP, Artifact, PythonOPTemplate


@OP.function
def duplicate(msg: str, num: int, foo: Artifact(Path)) -> {"msg": str, "bar": Artifact(Path)}:
    """Repeat a message and a file's content ``num`` times."""
    Path("bar.txt").write_text(Path(foo).read_text() * num)
    return {"msg": msg * num, "bar": Path("bar.txt")}


def count_words() -> ShellOPTemplate:
    t = ShellOPTemplate(
        name="count-words",
        image="alpine:3",
        # Argo's path variables keep the script independent of where the engine runs it
        script="cat {{inputs.artifacts.text.path}}/*.txt | wc -w | tr -d ' ' "
        "> {{outputs.parameters.count.path}}\n"
        'echo "{{inputs.parameters.msg}}" > {{outputs.parameters.echo.path}}',
    )
    t.inputs.parameters = {"msg": InputParameter()}
    t.inputs.artifacts = {"text": InputArtifact(path="/tmp/inputs/text")}
    t.outputs.parameters = {
        "count": OutputParameter(value_from_path="/tmp/count", type=int),
        "echo": OutputParameter(value_from_path="/tmp/echo"),
    }
    return t


def build(foo) -> Workflow:
    dup = Step(
        "duplicate",
        PythonOPTemplate(duplicate, image="python:3.11"),
        parameters={"msg": "Hello ", "num": 3},
        artifacts={"foo": foo},
        key="dup",
    )
    count = Step(
        "count",
        count_words(),
        parameters={"msg": dup.outputs.parameters["msg"]},
        artifacts={"text": dup.outputs.artifacts["bar"]},
    )
    wf = Workflow(name="quickstart")
    wf.add(dup)
    wf.add(count)
    return wf


def main() -> Workflow:
    Path("foo.txt").write_text("one two three\n")
    wf = build(upload_artifact("foo.txt"))
    wf.submit()
    print(f"workflow {wf.id}: {wf.query_status()}")
    for step in wf.query_step(type="Pod"):
        params = {
            k: v.value for k, v in step.outputs.parameters.items() if not k.startswith("dflow_")
        }
        print(f"  {step.displayName:<10} {step.phase:<10} {params}")
    dup = wf.query_step(key="dup")[0]
    files = download_artifact(dup.outputs.artifacts["bar"], path="downloaded")
    print(f"  downloaded {files}: {Path(files[0]).read_text().split()}")
    assert wf.query_status() == "Succeeded"
    return wf


if __name__ == "__main__":
    main()

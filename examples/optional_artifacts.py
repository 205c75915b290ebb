"""Optional input artifacts: a step runs whether or not it is given the artifact.

    python examples/optional_artifacts.py

A Python OP declares ``Artifact(Path, optional=True)`` and receives None when the step gives
nothing; a shell template marks its input ``optional=True`` and finds no file at its path.
"""

from __future__ import annotations

from pathlib import Path

from dflow import InputArtifact, OutputParameter, ShellOPTemplate, Step, Workflow, upload_artifact
from dflow.python import OP, Artifact, PythonOPTemplate


@OP.function
def describe(config: Artifact(Path, optional=True)) -> {"source": str}:
    """Read settings from ``config`` when given, else use built-in ones."""
    if config is None:
        return {"source": "built-in"}
    return {"source": Path(config).read_text().strip()}


def shell_template() -> ShellOPTemplate:
    t = ShellOPTemplate(
        name="maybe-cat",
        image="alpine:3.20",
        script="if [ -e /tmp/in.txt ]; then cat /tmp/in.txt; else echo absent; fi > /tmp/out.txt",
    )
    t.inputs.artifacts = {"in": InputArtifact(path="/tmp/in.txt", optional=True)}
    t.outputs.parameters = {"said": OutputParameter(value_from_path="/tmp/out.txt")}
    return t


def build(settings=None) -> Workflow:  # settings: an artifact or None
    wf = Workflow(name="optional-artifacts")
    with_file = {"config": settings} if settings is not None else {}
    wf.add(
        [
            Step("with-config", PythonOPTemplate(describe), artifacts=with_file),
            Step("without-config", PythonOPTemplate(describe)),
            Step("shell-without", shell_template()),
        ]
    )
    return wf


def main() -> Workflow:
    Path("settings.txt").write_text("from settings.txt\n")
    wf = build(upload_artifact("settings.txt"))
    wf.submit()
    for name in ("with-config", "without-config"):
        print(f"{name}: {wf.query_step(name=name)[0].outputs.parameters['source'].value}")
    print(
        f"shell-without: {wf.query_step(name='shell-without')[0].outputs.parameters['said'].value}"
    )
    return wf


if __name__ == "__main__":
    main()

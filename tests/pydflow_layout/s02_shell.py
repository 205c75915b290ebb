"""A shell template: input parameter and artifact, output parameter and artifact."""

from pathlib import Path

from dflow import (
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Workflow,
    upload_artifact,
)
from ops import result

Path("in").mkdir(exist_ok=True)
Path("in/a.txt").write_text("A")
sh = ShellOPTemplate(
    name="sh",
    image="alpine",
    script="cat /tmp/in/a.txt > /tmp/out.txt; echo {{inputs.parameters.p}} >> /tmp/out.txt; "
    "mkdir -p /tmp/od; cp /tmp/out.txt /tmp/od/x.txt",
)
sh.inputs.parameters = {"p": InputParameter()}
sh.inputs.artifacts = {"i": InputArtifact(path="/tmp/in")}
sh.outputs.parameters = {"r": OutputParameter(value_from_path="/tmp/out.txt")}
sh.outputs.artifacts = {"od": OutputArtifact(path="/tmp/od")}
wf = Workflow(name="shell")
wf.add(Step("sh", sh, parameters={"p": "hello"}, artifacts={"i": upload_artifact("in")}))
wf.submit()
result(wf, r=wf.query_step(name="sh")[0].outputs.parameters["r"].value.strip())

"""``reuse_step`` with changed outputs: what the next steps and the global outputs see."""

from __future__ import annotations

from pathlib import Path

from dflow import (
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Workflow,
    config,
    upload_artifact,
)


def _build(tag):
    prod = ShellOPTemplate(
        name="prod", script=("mkdir -p /tmp/o && echo original > /tmp/o/f.txt && echo 5 > /tmp/g")
    )
    prod.outputs.artifacts = {"o": OutputArtifact(path="/tmp/o", global_name="gart")}
    prod.outputs.parameters = {"g": OutputParameter(value_from_path="/tmp/g", global_name="gpar")}
    cons = ShellOPTemplate(
        name="cons",
        script=(
            "find -L /tmp/i -name f.txt -exec cat {} + > /tmp/r; echo {{inputs.parameters.gp}} > /tmp/gp"
        ),
    )
    cons.inputs.artifacts = {"i": InputArtifact(path="/tmp/i")}
    cons.inputs.parameters = {"gp": InputParameter()}
    cons.outputs.parameters = {
        "r": OutputParameter(value_from_path="/tmp/r"),
        "gp": OutputParameter(value_from_path="/tmp/gp"),
    }
    # the first step reads the global output before the reused step is reached
    early = Step(
        "early",
        cons,
        artifacts={"i": upload_artifact("seed")},
        parameters={"gp": "{{workflow.outputs.parameters.gpar}}"},
    )
    a = Step("a", prod, key="prod-key")
    b = Step(
        "b",
        cons,
        artifacts={"i": a.outputs.artifacts["o"]},
        parameters={"gp": a.outputs.parameters["g"]},
    )
    wf = Workflow(f"reuse-{tag}")
    if tag != "first":
        wf.add(early)
    wf.add(a)
    wf.add(b)
    return wf


def test_modified_artifact_and_reused_globals_reach_the_new_workflow(workdir):
    """pydflow on Argo copies a modified artifact back to its key and presets the global
    outputs of reused steps; here the next steps get the new files (never the stored .tgz)
    and the globals are set from the start, with either archive mode."""
    Path("seed").mkdir()
    Path("seed/f.txt").write_text("seed\n")
    first = _build("first")
    first.submit()
    assert first.query_step(name="b")[0].outputs.parameters["r"].value == "original"
    for mode in ("tar", None):
        config["archive_mode"] = mode
        Path("new").mkdir(exist_ok=True)
        Path("new/f.txt").write_text(f"modified {mode}\n")
        [a] = first.query_step(key="prod-key")
        assert a.outputs.parameters["g"].globalName == "gpar"
        a.modify_output_artifact("o", upload_artifact("new"))
        a.modify_output_parameter("g", 9)
        wf = _build(f"again-{mode or 'none'}")
        wf.submit(reuse_step=[a])
        assert wf.query_status() == "Succeeded", wf.query().status.message
        assert wf.query_step(name="early")[0].outputs.parameters["gp"].value == "9"
        b = wf.query_step(name="b")[0]
        assert b.outputs.parameters["r"].value == f"modified {mode}"
        assert b.outputs.parameters["gp"].value == "9"
        g = wf.query_global_outputs()
        assert g.parameters["gpar"].value == 9
        assert (
            Path(g.artifacts["gart"].local_path) / "new" / "f.txt"
        ).read_text() == f"modified {mode}\n"

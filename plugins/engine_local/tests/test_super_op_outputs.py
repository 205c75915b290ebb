"""Outputs of Steps/DAG templates (super-OPs) and templates changed after their steps were built.

Each test is a shape pydflow users write; the rules they exercise live in core
(``dflow.model.io``) and are Argo's (cited where the engine applies them).
"""

from __future__ import annotations

from pathlib import Path

from dflow import (
    DAG,
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    Outputs,
    ShellOPTemplate,
    Step,
    Steps,
    Task,
    Workflow,
    if_expression,
)
from dflow.python import OP, OPIO, Artifact, OPIOSign, PythonOPTemplate
from local_engine_ops import Add


class Coin(OP):
    """pydflow's conditional-outputs OP: a bool output and two artifacts."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"heads": bool})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign(
            {
                "is_head": bool,
                "msg1": str,
                "msg2": str,
                "n1": int,
                "n2": int,
                "foo": Artifact(Path),
                "bar": Artifact(Path),
            }
        )

    def execute(self, op_in):
        Path("foo.txt").write_text("head")
        Path("bar.txt").write_text("tail")
        return OPIO(
            {
                "is_head": op_in["heads"],
                "msg1": "head",
                "msg2": "tail",
                "n1": 1,
                "n2": 2,
                "foo": Path("foo.txt"),
                "bar": Path("bar.txt"),
            }
        )


def _read(local_path):
    path = Path(local_path)
    return (
        path / "foo.txt"
        if (path / "foo.txt").exists()
        else path / "bar.txt"
        if (path / "bar.txt").exists()
        else path
    ).read_text()


def _coin_steps(kind):
    """pydflow's shape: outputs declared empty, their sources set after the steps are added."""
    outs = Outputs(
        parameters={"msg": OutputParameter(), "n": OutputParameter()},
        artifacts={"res": OutputArtifact()},
    )
    tmpl = (Steps if kind == "steps" else DAG)(f"coin-{kind}", outputs=outs)
    tmpl.inputs.parameters["heads"] = InputParameter(type=bool)
    make = Step if kind == "steps" else Task
    coin = make(
        "coin", PythonOPTemplate(Coin), parameters={"heads": tmpl.inputs.parameters["heads"]}
    )
    tmpl.add(coin)
    tmpl.outputs.parameters["msg"].value_from_expression = if_expression(
        _if=coin.outputs.parameters["is_head"],
        _then=coin.outputs.parameters["msg1"],
        _else=coin.outputs.parameters["msg2"],
    )
    tmpl.outputs.parameters["n"].value_from_expression = if_expression(
        _if=coin.outputs.parameters["is_head"],
        _then=coin.outputs.parameters["n1"],
        _else=coin.outputs.parameters["n2"],
    )
    tmpl.outputs.artifacts["res"].from_expression = if_expression(
        _if=coin.outputs.parameters["is_head"],
        _then=coin.outputs.artifacts["foo"],
        _else=coin.outputs.artifacts["bar"],
    )
    return tmpl


def test_conditional_outputs_on_a_bool_parameter(workdir):
    """pydflow's test_conditional_outputs (KeyError: 'msg' before): the condition is a bool
    output, whose text is 'true'/'false'; the chosen branch's type carries over."""
    wf = Workflow("cond")
    for kind in ("steps", "dag"):
        tmpl = _coin_steps(kind)
        wf.add(
            [
                Step(f"{kind}-h", tmpl, parameters={"heads": True}),
                Step(f"{kind}-t", tmpl, parameters={"heads": False}),
            ]
        )
    wf.submit()
    assert wf.query_status() == "Succeeded"
    for kind in ("steps", "dag"):
        heads = wf.query_step(name=f"{kind}-h")[0]
        tails = wf.query_step(name=f"{kind}-t")[0]
        assert heads.outputs.parameters["msg"].value == "head"
        assert tails.outputs.parameters["msg"].value == "tail"
        assert tails.outputs.parameters["n"].value == 2  # typed like n2 (int), as pydflow does
        assert _read(heads.outputs.artifacts["res"].local_path) == "head"
        assert _read(tails.outputs.artifacts["res"].local_path) == "tail"


def _echo(name, value="{{inputs.parameters.v}}"):
    t = ShellOPTemplate(
        name=name, script=f"echo {value} > /tmp/o; mkdir -p /tmp/a; echo {value} > /tmp/a/f.txt"
    )
    t.inputs.parameters = {"v": InputParameter()}
    t.outputs.parameters = {"o": OutputParameter(value_from_path="/tmp/o")}
    t.outputs.artifacts = {"a": OutputArtifact(path="/tmp/a")}
    return t


def test_super_op_outputs_declared_every_other_way(workdir):
    """value_from_parameter and _from set after building, an expression-text condition, and
    global outputs of a nested step and of the super-OP itself, read by a later step."""
    inner = Steps("inner")
    inner.inputs.parameters["v"] = InputParameter()
    e = Step("e", _echo("echo"), parameters={"v": inner.inputs.parameters["v"]})
    inner.add(e)
    inner.outputs.parameters["p"] = OutputParameter(global_name="from-super")
    inner.outputs.parameters["p"].value_from_parameter = e.outputs.parameters["o"]
    inner.outputs.parameters["q"] = OutputParameter(
        value_from_expression=if_expression(
            _if="steps['e'].outputs.parameters['o'] == 'x'",
            _then=e.outputs.parameters["o"],
            _else="other",
        )
    )
    inner.outputs.artifacts["a"] = OutputArtifact(global_name="art-from-super")
    inner.outputs.artifacts["a"]._from = e.outputs.artifacts["a"]
    inner.outputs.artifacts["b"] = OutputArtifact(
        from_expression="steps['e'].outputs.parameters['o'] == 'x' ? "
        "steps['e'].outputs.artifacts['a'] : steps['e'].outputs.artifacts['a']"
    )
    e.template.outputs.parameters["o"].global_name = "from-leaf"
    use = _echo("use", "{{workflow.outputs.parameters.from-leaf}}")
    wf = Workflow("ways")
    wf.add(Step("sup", inner, parameters={"v": "x"}))
    wf.add(Step("use", use, parameters={"v": "unused"}))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    sup = wf.query_step(name="sup")[0]
    assert sup.outputs.parameters["p"].value == "x"
    assert sup.outputs.parameters["q"].value == "x"
    assert (Path(sup.outputs.artifacts["a"].local_path) / "f.txt").read_text() == "x\n"
    assert (Path(sup.outputs.artifacts["b"].local_path) / "f.txt").read_text() == "x\n"
    g = wf.query_global_outputs()
    assert g.parameters["from-super"].value == "x"
    assert g.parameters["from-leaf"].value == "x"
    assert (Path(g.artifacts["art-from-super"].local_path) / "f.txt").read_text() == "x\n"
    assert wf.query_step(name="use")[0].outputs.parameters["o"].value == "x"


def test_unresolvable_super_op_output_errors_unless_it_has_a_default(workdir):
    """Argo: an output that cannot be resolved takes its default, else the node errors."""

    def build(default):
        s = Steps("maybe")
        skipped = Step("never", _echo("echo"), parameters={"v": "x"}, when="1 > 2")
        s.add(skipped)
        kwargs = {} if default is None else {"default": default}
        s.outputs.parameters["p"] = OutputParameter(
            value_from_parameter=skipped.outputs.parameters["o"], **kwargs
        )
        s.outputs.artifacts["a"] = OutputArtifact(_from=skipped.outputs.artifacts["a"])
        return s

    wf = Workflow("unres")
    wf.add(Step("with-default", build("dflt")))
    wf.add(Step("no-default", build(None), continue_on_error=True))
    wf.submit()
    assert wf.query_step(name="with-default")[0].outputs.parameters["p"].value == "dflt"
    bad = wf.query_step(name="no-default")[0]
    assert bad.phase == "Error"
    assert "output parameter 'p'" in bad.message and "give it a default" in bad.message
    assert "output artifact" not in bad.message  # its step was skipped: no artifact, no error


def test_output_defaults_when_expression_fails_or_step_is_skipped(workdir):
    """A failing value_from_expression takes the default; a skipped step's outputs are its
    defaults for the steps that read them (Argo 3.7: addSkippedOutputParamToScope,
    workflow/controller/scope.go)."""
    s = Steps("defaults")
    s.inputs.parameters["x"] = InputParameter()
    a = Step("a", PythonOPTemplate(Add), parameters={"a": 1, "b": 1})
    s.add(a)
    s.outputs.parameters["bad"] = OutputParameter(
        value_from_expression="steps['nope'].outputs.parameters['c']", default="fallback"
    )
    leaf = _echo("leafdef")
    leaf.outputs.parameters["o"].default = "leaf-default"  # set after the template was built
    sup = Step("sup", s, parameters={"x": 1})
    skipped_sup = Step("skipped-sup", s, parameters={"x": 1}, when="1 > 2")
    skipped_leaf = Step("skipped-leaf", leaf, parameters={"v": "y"}, when="1 > 2")
    s.outputs.parameters["bad"].default = "fallback2"  # and this one after the steps
    reader = _echo("reader", "{{inputs.parameters.v}}")
    wf = Workflow("defaults")
    wf.add([sup, skipped_sup, skipped_leaf])
    wf.add(
        [
            Step("read-sup", reader, parameters={"v": skipped_sup.outputs.parameters["bad"]}),
            Step("read-leaf", reader, parameters={"v": skipped_leaf.outputs.parameters["o"]}),
        ]
    )
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert wf.query_step(name="sup")[0].outputs.parameters["bad"].value == "fallback2"
    assert wf.query_step(name="skipped-sup")[0].phase == "Skipped"
    assert wf.query_step(name="read-sup")[0].outputs.parameters["o"].value == "fallback2"
    assert wf.query_step(name="read-leaf")[0].outputs.parameters["o"].value == "leaf-default"


def test_template_changed_after_its_step_was_built(workdir):
    """On Argo the template declares its inputs and the step passes arguments, so a change
    to the template after ``Step(...)`` applies; it does here too."""
    t = ShellOPTemplate(
        name="late",
        script=(
            "ls /tmp/in > /dev/null 2>&1 && echo has > /tmp/o || echo none > /tmp/o; "
            "echo {{inputs.parameters.p}}-{{inputs.parameters.q}} > /tmp/pq"
        ),
    )
    t.inputs.artifacts = {"x": InputArtifact(path="/tmp/in")}
    t.inputs.parameters = {"p": InputParameter()}
    t.outputs.parameters = {
        "o": OutputParameter(value_from_path="/tmp/o"),
        "pq": OutputParameter(value_from_path="/tmp/pq"),
    }
    s = Step("s", t)
    t.inputs.artifacts["x"].optional = True
    t.inputs.parameters["p"].value = "late"
    t.inputs.parameters["q"] = InputParameter(value="new")
    wf = Workflow("late")
    wf.add(s)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    step = wf.query_step(name="s")[0]
    assert step.outputs.parameters["o"].value == "none"
    assert step.outputs.parameters["pq"].value == "late-new"

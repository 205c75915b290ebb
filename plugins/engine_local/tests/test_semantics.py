"""The seed's user guide, run on the local engine: one test per feature."""

from __future__ import annotations

from pathlib import Path

from dflow import (
    DAG,
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    PythonScriptOPTemplate,
    ShellOPTemplate,
    Step,
    Steps,
    Task,
    Workflow,
    argo_enumerate,
    argo_len,
    argo_range,
    argo_sequence,
    if_expression,
    upload_artifact,
)
from dflow.python import PythonOPTemplate, Slices
from local_engine_ops import Add, Big, Duplicate, MaybeIn, Progress, Square, Sum


def _shell(name, script, ins=(), outs=(), in_arts=(), out_arts=()):
    t = ShellOPTemplate(name=name, script=script)
    t.inputs.parameters = {n: InputParameter() for n in ins}
    t.outputs.parameters = {
        n: OutputParameter(value_from_path=f"/tmp/outputs/parameters/{n}") for n in outs
    }
    t.inputs.artifacts = {n: InputArtifact(path=f"/tmp/inputs/artifacts/{n}") for n in in_arts}
    t.outputs.artifacts = {n: OutputArtifact(path=f"/tmp/outputs/artifacts/{n}") for n in out_arts}
    return t


def test_dag_inferred_and_explicit_dependencies(workdir):
    dag = DAG("adder")
    a = Task("a", PythonOPTemplate(Add), parameters={"a": 1, "b": 2})
    b = Task("b", PythonOPTemplate(Add), parameters={"a": a.outputs.parameters["c"], "b": 10})
    marker = workdir / "order.txt"
    c = Task("c", _shell("mark", f"echo c >> {marker}"), dependencies=[b])
    dag.add([a, b, c])
    wf = Workflow("dag", dag=dag)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    [sb] = wf.query_step(name="b")
    assert sb.outputs.parameters["c"].value == 13
    [sc] = wf.query_step(name="c")
    assert sc.startedAt >= sb.finishedAt


def _countdown():
    """A recursive Steps: n -> n-1 until n reaches 0 (`when` breaks the loop)."""
    loop = Steps("countdown")
    loop.inputs.parameters["n"] = InputParameter(type=int)
    dec = Step(
        "dec",
        PythonOPTemplate(Add),
        parameters={"a": loop.inputs.parameters["n"], "b": -1},
        key="dec-{{inputs.parameters.n}}",
    )
    loop.add(dec)
    again = Step(
        "again",
        loop,
        parameters={"n": dec.outputs.parameters["c"]},
        when=f"{dec.outputs.parameters['c']} > 0",
    )
    loop.add(again)
    return loop


def test_nested_recursion_with_when(workdir):
    wf = Workflow("recurse")
    wf.add(Step("start", _countdown(), parameters={"n": 3}))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    keys = sorted(s.key for s in wf.query_step(type="Pod"))
    assert keys == ["dec-1", "dec-2", "dec-3"]
    [last] = wf.query_step(key="dec-1")
    assert last.outputs.parameters["c"].value == 0
    skipped = wf.query_step(name="again", phase="Skipped")
    assert len(skipped) == 1 and skipped[0].type == "Skipped"
    assert len(wf.query_step(type=["Steps", "Skipped"])) == 5  # root, 3 levels... + skipped


def test_conditional_outputs(workdir):
    steps = Steps("cond")
    steps.inputs.parameters["x"] = InputParameter(type=int)
    small = Step(
        "small",
        PythonOPTemplate(Add),
        parameters={"a": 0, "b": 1},
        when=f"{steps.inputs.parameters['x']} < 5",
    )
    big = Step(
        "big",
        PythonOPTemplate(Add),
        parameters={"a": 0, "b": 100},
        when=f"{steps.inputs.parameters['x']} >= 5",
    )
    steps.add([small, big])
    steps.outputs.parameters["r"] = OutputParameter(
        value_from_expression=if_expression(
            _if=steps.inputs.parameters["x"] < 5,
            _then=small.outputs.parameters["c"],
            _else=big.outputs.parameters["c"],
        )
    )
    steps.outputs.parameters["d"] = OutputParameter(default="dflt")
    wf = Workflow("cond")
    wf.add([Step("lo", steps, parameters={"x": 2}), Step("hi", steps, parameters={"x": 9})])
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert wf.query_step(name="lo")[0].outputs.parameters["r"].value == 1  # typed as c
    assert wf.query_step(name="hi")[0].outputs.parameters["r"].value == 100
    assert wf.query_step(name="hi")[0].outputs.parameters["d"].value == "dflt"


def test_with_param_forms_and_sequence(workdir):
    gen = _shell("gen", "echo '[1, 2, 3]' > /tmp/outputs/parameters/xs", outs=["xs"])
    g = Step("gen", gen)
    lit = Step("lit", PythonOPTemplate(Square), parameters={"x": "{{item}}"}, with_param=[1, 2])
    out = Step(
        "fromout",
        PythonOPTemplate(Square),
        parameters={"x": "{{item}}"},
        with_param=g.outputs.parameters["xs"],
    )
    rng = Step(
        "rng",
        PythonOPTemplate(Square),
        parameters={"x": "{{item}}"},
        with_param=argo_range(4),
        key="rng-{{item}}",
    )
    enum = Step(
        "enum",
        PythonOPTemplate(Add),
        parameters={"a": "{{item.order}}", "b": "{{item.v}}"},
        with_param=argo_enumerate(v=[10, 20]),
    )
    seq = Step(
        "seq",
        PythonOPTemplate(Square),
        parameters={"x": "{{item}}"},
        with_sequence=argo_sequence(count=argo_len(g.outputs.parameters["xs"]), start=2),
    )
    fmt = Step(
        "fmt",
        _shell(
            "echo",
            "echo {{inputs.parameters.v}} > /tmp/outputs/parameters/v",
            ins=["v"],
            outs=["v"],
        ),
        parameters={"v": "{{item}}"},
        with_sequence=argo_sequence(end=3, start=1, format="i%02d"),
    )
    wf = Workflow("loops")
    wf.add(g)
    wf.add([lit, out, rng, enum, seq, fmt])
    wf.submit()
    assert wf.query_status() == "Succeeded"

    def ys(name, field="y"):
        group = [s for s in wf.query_step(name=name) if s.type == "StepGroup"][0]
        return group.outputs.parameters[field].value

    assert ys("lit") == [1, 4]
    assert ys("fromout") == [1, 4, 9]
    assert ys("rng") == [0, 1, 4, 9]
    assert ys("enum", "c") == [10, 21]
    assert ys("seq") == [4, 9, 16]
    assert ys("fmt", "v") == ["i01", "i02", "i03"]
    [r2] = wf.query_step(key="rng-2")
    assert r2.outputs.parameters["y"].value == 4
    assert len([s for s in wf.query_step(name="rng") if s.type == "Pod"]) == 4


def test_slices_stacking_and_sub_path(workdir):
    files = []
    for i in range(3):
        Path(f"d{i}.txt").write_text(f"{i}")
        files.append(f"d{i}.txt")
    arts = upload_artifact(files, archive=None)
    sl = Step(
        "sl",
        PythonOPTemplate(
            Duplicate,
            slices=Slices(
                "{{item}}",
                input_parameter=["msg"],
                input_artifact=["data"],
                output_parameter=["msg"],
                output_artifact=["log"],
            ),
        ),
        parameters={"msg": ["a", "b", "c"]},
        artifacts={"data": arts},
        with_param=argo_range(3),
    )
    sub = Step(
        "sub",
        PythonOPTemplate(
            Duplicate,
            slices=Slices(
                sub_path=True,
                input_parameter=["msg"],
                input_artifact=["data"],
                output_parameter=["msg"],
                output_artifact=["log"],
                create_dir=True,
            ),
        ),
        parameters={"msg": ["x", "y", "z"]},
        artifacts={"data": arts},
    )
    grp = Step(
        "grp",
        PythonOPTemplate(
            Square,
            slices=Slices(input_parameter=["x"], output_parameter=["y"], group_size=2, pool_size=2),
        ),
        parameters={"x": [1, 2, 3, 4, 5]},
    )
    total = Step("total", PythonOPTemplate(Sum), parameters={"xs": grp.outputs.parameters["y"]})
    wf = Workflow("slices")
    wf.add([sl, sub, grp])
    wf.add(total)
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    g = [s for s in wf.query_step(name="sl") if s.type == "StepGroup"][0]
    assert g.outputs.parameters["msg"].value == ["aa", "bb", "cc"]
    merged = Path(g.outputs.artifacts["log"]["local_path"])
    from dflow import catalog

    paths = catalog.path_object(merged)
    assert [Path(p).read_text() for p in paths] == ["00", "11", "22"]
    gs = [s for s in wf.query_step(name="sub") if s.type == "StepGroup"][0]
    assert gs.outputs.parameters["msg"].value == ["xx", "yy", "zz"]
    assert len([s for s in wf.query_step(name="grp") if s.type == "Pod"]) == 3  # 5 in groups of 2
    assert wf.query_step(name="total")[0].outputs.parameters["total"].value == 55


def test_reuse_step_with_modified_output(workdir):
    def build():
        a = Step("a", PythonOPTemplate(Add), parameters={"a": 1, "b": 1}, key="step-a")
        b = Step(
            "b",
            PythonOPTemplate(Add),
            parameters={"a": a.outputs.parameters["c"], "b": 1},
            key="step-b",
        )
        wf = Workflow("reuse")
        wf.add(a)
        wf.add(b)
        return wf

    wf = build()
    wf.submit()
    [a] = wf.query_step(key="step-a")
    assert a.outputs.parameters["c"].value == 2
    a.modify_output_parameter("c", 40)
    wf2 = build()
    wf2.submit(reuse_step=[a])
    assert wf2.query_status() == "Succeeded"
    assert wf2.query_step(key="step-b")[0].outputs.parameters["c"].value == 41


def test_optional_artifact_defaults_bigparameter_globals_progress(workdir):
    opt = Step("opt", PythonOPTemplate(MaybeIn))
    big = Step("big", PythonOPTemplate(Big), parameters={"data": {"k": [1, 2]}})
    tmpl = PythonOPTemplate(Add, output_parameter_global_name={"c": "the-sum"})
    glob = Step("glob", tmpl, parameters={"a": 2, "b": 3})
    prog = Step("prog", PythonOPTemplate(Progress))
    nodef = _shell("nodef", "true", outs=["o"])
    nodef.outputs.parameters["o"].default = "fallback"
    d = Step("dflt", nodef)
    wf = Workflow("misc")
    wf.add([opt, big, glob, prog, d])
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert wf.query_step(name="opt")[0].outputs.parameters["has"].value is False
    assert wf.query_step(name="big")[0].outputs.parameters["data"].value == {
        "k": [1, 2],
        "seen": True,
    }
    g = wf.query_global_outputs()
    assert g.parameters["the-sum"].value == 5
    assert wf.query_step(name="prog")[0].progress == "4/4"
    assert wf.query_step(name="dflt")[0].outputs.parameters["o"].value == "fallback"


def test_python_script_template_and_workflow_parameters(workdir):
    t = PythonScriptOPTemplate(
        name="py",
        script=(
            "import os\n"
            "open('/tmp/outputs/parameters/o', 'w').write('{{inputs.parameters.p}}-' "
            "+ '{{workflow.parameters.suffix}}' + str(os.getcwd().endswith('workdir')))\n"
        ),
    )
    t.inputs.parameters = {"p": InputParameter()}
    t.outputs.parameters = {"o": OutputParameter(value_from_path="/tmp/outputs/parameters/o")}
    steps = Steps("main")
    steps.inputs.parameters["p"] = InputParameter(value="dflt")
    steps.add(Step("py", t, parameters={"p": steps.inputs.parameters["p"]}))
    wf = Workflow("pyscript", steps=steps, parameters={"p": "given", "suffix": "s"})
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert wf.query_step(name="py")[0].outputs.parameters["o"].value == "given-sTrue"


def test_upload_packages(workdir, tmp_path):
    pkg = tmp_path / "pkgs" / "helper_mod_xyz.py"
    pkg.parent.mkdir()
    pkg.write_text("VALUE = 7\n")
    from dflow.python import OP, OPIO, OPIOSign

    class UsesPkg(OP):
        @classmethod
        def get_input_sign(cls):
            return OPIOSign({})

        @classmethod
        def get_output_sign(cls):
            return OPIOSign({"v": int})

        def execute(self, op_in):
            import helper_mod_xyz

            return OPIO({"v": helper_mod_xyz.VALUE})

    wf = Workflow("pkgs")
    wf.add(Step("use", PythonOPTemplate(UsesPkg, python_packages=[str(pkg)])))
    wf.submit()
    assert wf.query_step(name="use")[0].outputs.parameters["v"].value == 7

"""Lists whose lengths are known only at run time: a mismatch is an error, never a cut."""

from __future__ import annotations

from pathlib import Path

from dflow import InputParameter, ShellOPTemplate, Step, Workflow, argo_enumerate
from dflow.python import OP, OPIO, Artifact, OPIOSign, PythonOPTemplate, Slices
from local_engine_ops import Add


class Lists(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"two": list, "three": list, "files": Artifact(list[Path])})

    def execute(self, op_in):
        files = []
        for i in range(3):
            Path(f"f{i}.txt").write_text(str(i))
            files.append(Path(f"f{i}.txt"))
        return OPIO({"two": [1, 2], "three": [10, 20, 30], "files": files})


class Pair(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int, "f": Artifact(Path)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    def execute(self, op_in):
        return OPIO({"y": op_in["x"] + int(op_in["f"].read_text())})


def test_sliced_inputs_of_different_lengths_fail_the_step(workdir):
    lists = Step("lists", PythonOPTemplate(Lists))
    two, three = lists.outputs.parameters["two"], lists.outputs.parameters["three"]
    add = PythonOPTemplate(Add, slices=Slices(input_parameter=["a", "b"], output_parameter=["c"]))
    grouped = PythonOPTemplate(
        Add, slices=Slices(input_parameter=["a", "b"], output_parameter=["c"], group_size=2)
    )
    pair = PythonOPTemplate(
        Pair, slices=Slices(input_parameter=["x"], input_artifact=["f"], output_parameter=["y"])
    )
    echo = ShellOPTemplate(name="echo", script="echo {{inputs.parameters.v}}")
    echo.inputs.parameters = {"v": InputParameter()}
    wf = Workflow("lengths")
    wf.add(lists)
    wf.add(
        [
            Step("longer-second", add, parameters={"a": two, "b": three}, continue_on_failed=True),
            Step("grouped", grouped, parameters={"a": two, "b": three}, continue_on_failed=True),
            Step(
                "art-vs-param",
                pair,
                parameters={"x": two},
                artifacts={"f": lists.outputs.artifacts["files"]},
                continue_on_failed=True,
            ),
            # its items cannot be listed: an Error, which only continue_on_error continues (Argo)
            Step(
                "enumerate",
                echo,
                parameters={"v": "{{item.a}}"},
                with_param=argo_enumerate(a=two, b=three),
                continue_on_error=True,
            ),
            Step("equal", add, parameters={"a": two, "b": [5, 6]}),
        ]
    )
    wf.submit()
    assert wf.query_status() == "Succeeded"
    for name in ("longer-second", "grouped", "art-vs-param"):
        step = wf.query_step(name=name)[0]
        assert step.phase == "Failed", name
        assert "sliced inputs differ in length" in step.message, (name, step.message)
    assert "'a' has 2, 'b' has 3" in wf.query_step(name="grouped")[0].message
    assert "'x' has 2, 'f' has 3" in wf.query_step(name="art-vs-param")[0].message
    enum = wf.query_step(name="enumerate")[0]
    assert enum.phase == "Error"
    assert "argo_enumerate: the lists a, b differ in length" in enum.message
    assert wf.query_step(name="equal")[0].outputs.parameters["c"].value == [6, 8]

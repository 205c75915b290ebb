"""``run_op``: inputs from files, outputs to files, errors as results."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from dflow import catalog
from dflow.python.errors import FatalError, TransientError
from dflow.python.op import OP
from dflow.python.opio import OPIO, Artifact, BigParameter, NestedDict, OPIOSign, Parameter
from dflow.runner import OPResult, run_op
from dflow.serialization import dump_value


class Dirs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.inputs = root / "inputs"
        self.outputs = root / "outputs"
        self.workdir = root / "workdir"
        for d in (self.inputs / "parameters", self.inputs / "artifacts", self.workdir):
            d.mkdir(parents=True, exist_ok=True)

    def par(self, name: str, value: Any, tp: Any = None) -> None:
        (self.inputs / "parameters" / name).write_text(dump_value(value, tp))

    def art(self, name: str, files: dict[str, str], items: list[dict] | None = None) -> Path:
        root = self.inputs / "artifacts" / name
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        if items is not None:
            catalog.write_catalog(root, items)
        return root

    def out_par(self, name: str) -> str:
        return (self.outputs / "parameters" / name).read_text()

    def out_art(self, name: str) -> Path:
        return self.outputs / "artifacts" / name

    def run(self, op: Any, **kwargs: Any) -> OPResult:
        return run_op(
            op, inputs_dir=self.inputs, outputs_dir=self.outputs, workdir=self.workdir, **kwargs
        )


@pytest.fixture
def dirs(tmp_path):
    return Dirs(tmp_path)


class Params(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign(
            {
                "i": int,
                "f": float,
                "s": str,
                "b": bool,
                "l": list[int],
                "d": dict[str, Any],
                "o": str | None,
                "dflt": Parameter(int, default=7),
                "big": BigParameter(dict),
            }
        )

    @classmethod
    def get_output_sign(cls):
        return OPIOSign(
            {"i": int, "s": str, "l": list[int], "d": dict[str, Any], "dflt": int, "big": dict}
        )

    def execute(self, op_in):
        return OPIO(
            i=op_in["i"] + 1,
            s=op_in["s"] + "!",
            l=op_in["l"] + [len(op_in["l"])],
            d={**op_in["d"], "o": op_in["o"], "b": op_in["b"], "f": op_in["f"]},
            dflt=op_in["dflt"],
            big=op_in["big"],
        )


def test_parameters_of_many_types(dirs):
    values = {"i": 1, "f": 2.5, "s": "3", "b": True, "l": [1, 2], "d": {"k": [1]}, "o": None}
    for name, value in values.items():
        dirs.par(name, value, str if name == "s" else None)
    dirs.par("big", {"rows": list(range(3))})
    dirs.par("dflow_key", "ignored")  # undeclared files (engine extras) are not inputs
    result = dirs.run(Params)
    assert result == OPResult("Succeeded", None, "", 0)
    assert dirs.out_par("i") == "2"
    assert dirs.out_par("s") == "3!"  # a str stays verbatim
    assert json.loads(dirs.out_par("l")) == [1, 2, 2]
    assert json.loads(dirs.out_par("d")) == {"k": [1], "o": None, "b": True, "f": 2.5}
    assert dirs.out_par("dflt") == "7"
    assert json.loads(dirs.out_par("big")) == {"rows": [0, 1, 2]}


def test_wrong_input_type_is_a_type_error(dirs):
    for name, value in {"i": "x", "f": 1.0, "s": "", "b": 1, "l": [], "d": {}, "o": None}.items():
        dirs.par(name, value, str if name in ("i", "s") else None)
    dirs.par("big", {})
    result = dirs.run(Params)
    assert (result.phase, result.error, result.exit_code) == ("Failed", "type", 3)
    assert result.message == "OP Params: input 'i' expects int, got str ('x')"


def test_missing_input_is_reported(dirs):
    result = dirs.run(Params)
    assert result.error == "type"
    assert result.message == "OP Params: missing input 'i' (int)"


class Artifacts(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign(
            {
                "file": Artifact(Path),
                "dir": Artifact(str),
                "files": Artifact(list[Path]),
                "named": Artifact(dict[str, Path]),
                "tree": Artifact(NestedDict[Path]),
                "maybe": Artifact(Path, optional=True),
            }
        )

    @classmethod
    def get_output_sign(cls):
        return OPIOSign(
            {
                "copy": Artifact(Path),
                "made": Artifact(list[Path]),
                "picked": Artifact(dict[str, Path]),
                "tree": Artifact(NestedDict[Path]),
                "outside": Artifact(Path),
                "report": str,
            }
        )

    def execute(self, op_in):
        Path("made").mkdir()
        made = []
        for i, p in enumerate(op_in["files"]):
            made.append(Path("made") / f"{i}.txt")
            made[-1].write_text(p.read_text().upper())
        Path("empty_dir").mkdir()
        report = {
            "file": op_in["file"].read_text(),
            "dir": sorted(os.listdir(op_in["dir"])),
            "dir_type": type(op_in["dir"]).__name__,
            "named": {k: v.read_text() for k, v in op_in["named"].items()},
            "tree": op_in["tree"]["a"]["b"].read_text(),
            "maybe": op_in["maybe"],
        }
        return OPIO(
            copy=op_in["file"],
            made=made,
            picked={"x": op_in["named"]["x"], "e": Path("empty_dir")},
            tree={"top": {"sub": op_in["tree"]["a"]["b"]}},
            outside=self.outside,
            report=json.dumps(report),
        )


def test_artifacts_in_and_out(dirs, tmp_path_factory):
    dirs.art("file", {"f.txt": "file"}, [{"dflow_list_item": "f.txt"}])
    dirs.art("dir", {"a": "1", "b/c": "2", "e/.empty_dir": ""})
    dirs.art(
        "files",
        {"x/1.txt": "one", "x/0.txt": "zero"},
        [{"dflow_list_item": "x/1.txt", "order": 1}, {"dflow_list_item": "x/0.txt", "order": 0}],
    )
    dirs.art("named", {"nx": "X"}, [{"dflow_list_item": "nx", "order": "x"}])
    dirs.art("tree", {"t/b": "leaf"}, [{"dflow_list_item": "t/b", "order": "a.b"}])
    outside = tmp_path_factory.mktemp("elsewhere") / "o.txt"
    outside.write_text("outside")
    Artifacts.outside = outside
    try:
        result = dirs.run(Artifacts)
    finally:
        del Artifacts.outside
    assert result.ok, result.traceback
    report = json.loads(dirs.out_par("report"))
    assert report == {
        "file": "file",
        "dir": ["a", "b", "e"],  # the .empty_dir marker of an input is removed
        "dir_type": "str",
        "named": {"x": "X"},
        "tree": "leaf",
        "maybe": None,
    }
    # a path under an input artifact keeps its place below the artifact root
    assert catalog.path_object(dirs.out_art("copy")) == dirs.out_art("copy") / "f.txt"
    assert (dirs.out_art("copy") / "f.txt").read_text() == "file"
    # paths under the working directory become relative to it
    made = catalog.path_object(dirs.out_art("made"))
    assert [p.read_text() for p in made] == ["ZERO", "ONE"]
    assert made[0] == dirs.out_art("made") / "made/0.txt"
    picked = catalog.path_object(dirs.out_art("picked"))
    assert picked["x"].read_text() == "X"
    assert (picked["e"] / ".empty_dir").is_file()  # empty dirs survive object stores
    tree = catalog.path_object(dirs.out_art("tree"))
    assert tree["top"]["sub"].read_text() == "leaf"
    # an absolute path elsewhere is mirrored without its leading "/"
    mirrored = dirs.out_art("outside") / str(outside).lstrip("/")
    assert mirrored.read_text() == "outside"
    assert catalog.path_object(dirs.out_art("outside")) == mirrored


def test_missing_required_artifact(dirs):
    dirs.art("file", {"f": ""})
    result = dirs.run(Artifacts)
    assert result.error == "type"
    assert result.message == "OP Artifacts: missing input artifact 'dir' (str)"


def test_dict_artifact_from_a_list_catalog_is_an_error(dirs):
    for name in ("file", "dir", "files", "tree"):
        dirs.art(name, {"f": ""})
    dirs.art("named", {"f": ""}, [{"dflow_list_item": "f", "order": 0}])
    result = dirs.run(Artifacts)
    assert result.error == "type"
    assert "input artifact 'named' expects dict[str, Path], but the artifact at" in result.message
    assert "holds a list" in result.message


class Raise(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"kind": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"partial": int, "log": Artifact(Path), "n": int})

    def execute(self, op_in):
        Path("log.txt").write_text("started")
        self.set_output("partial", 41)
        self.set_output("log", Path("log.txt"))
        kind = op_in["kind"]
        if kind == "transient":
            raise TransientError("disk busy")
        if kind == "fatal":
            raise FatalError("bad input")
        if kind == "value":
            raise ValueError("boom")
        if kind == "exit":
            raise SystemExit(3)
        if kind == "wrong":
            return OPIO(n="3")
        if kind == "missing":
            return OPIO()
        return OPIO(n=1)


@pytest.mark.parametrize(
    "kind, error, code, message",
    [
        ("transient", "transient", 1, "TransientError: disk busy"),
        ("fatal", "fatal", 2, "FatalError: bad input"),
        ("value", "error", 3, "ValueError: boom"),
        ("exit", "error", 3, "SystemExit: 3"),
        ("wrong", "type", 3, "OP Raise: output 'n' expects int, got str ('3')"),
        ("missing", "type", 3, "OP Raise: missing output 'n' (int) declared in get_output_sign"),
    ],
)
def test_errors_become_results_and_keep_set_outputs(dirs, kind, error, code, message):
    dirs.par("kind", kind, str)
    cwd = os.getcwd()
    result = dirs.run(Raise)
    assert os.getcwd() == cwd  # the working directory is restored
    assert (result.phase, result.error, result.exit_code, result.message) == (
        "Failed",
        error,
        code,
        message,
    )
    assert "Traceback" in result.traceback
    assert dirs.out_par("partial") == "41"  # set_output values are flushed on failure
    assert (dirs.out_art("log") / "log.txt").read_text() == "started"


def test_set_output_completes_returned_outputs(dirs):
    dirs.par("kind", "ok", str)
    assert dirs.run(Raise).ok
    assert dirs.out_par("partial") == "41" and dirs.out_par("n") == "1"


def test_missing_output_file_is_reported(dirs):
    class Liar(OP):
        @classmethod
        def get_input_sign(cls):
            return OPIOSign()

        @classmethod
        def get_output_sign(cls):
            return OPIOSign({"res": Artifact(Path)})

        def execute(self, op_in):
            return OPIO(res=Path("never-written.txt"))

    result = dirs.run(Liar)
    assert result.error == "type"
    assert result.message.startswith(
        "OP Liar: output artifact 'res': path 'never-written.txt' does not exist"
    )


class Progress(OP):
    progress_total = 4

    @classmethod
    def get_input_sign(cls):
        return OPIOSign()

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"info": dict})

    def execute(self, op_in):
        for i in range(3):
            self.progress_current = i + 1
        return OPIO(info=self.get_info())


def test_progress_file_key_and_workflow_name(dirs):
    progress = dirs.root / "progress"
    result = dirs.run(Progress, progress_file=progress, key="sq-1", workflow_name="wf-abc")
    assert result.ok
    assert progress.read_text() == "3/4"
    info = json.loads(dirs.out_par("info"))
    assert (info["key"], info["workflow_name"], info["progress_current"]) == ("sq-1", "wf-abc", 3)


def test_success_tag(dirs):
    dirs.par("kind", "ok", str)
    assert dirs.run(Raise, success_tag=True).ok
    assert (dirs.outputs / "success_tag").read_text() == "true"
    dirs.par("kind", "fatal", str)
    assert not dirs.run(Raise, success_tag=True).ok
    assert (dirs.outputs / "success_tag").read_text() == "false"


def test_runs_in_the_workdir_and_accepts_instances(dirs):
    class Where(OP):
        def __init__(self, label):
            self.label = label

        @classmethod
        def get_input_sign(cls):
            return OPIOSign()

        @classmethod
        def get_output_sign(cls):
            return OPIOSign({"cwd": str, "label": str})

        def execute(self, op_in):
            return OPIO(cwd=os.getcwd(), label=self.label)

    assert dirs.run(Where("mine")).ok
    assert dirs.out_par("cwd") == str(dirs.workdir) and dirs.out_par("label") == "mine"


def test_input_types_override_how_text_is_read(dirs):
    class Echo(OP):
        @classmethod
        def get_input_sign(cls):
            return OPIOSign({"v": Any})

        @classmethod
        def get_output_sign(cls):
            return OPIOSign({"t": str})

        def execute(self, op_in):
            return OPIO(t=type(op_in["v"]).__name__)

    dirs.par("v", "12", str)
    assert dirs.run(Echo).ok and dirs.out_par("t") == "int"
    assert dirs.run(Echo, input_types={"v": str}).ok and dirs.out_par("t") == "str"


def test_not_an_op_is_a_failed_result(dirs):
    result = dirs.run(object)
    assert result.phase == "Failed" and "expected an OP class or instance" in result.message

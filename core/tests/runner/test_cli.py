"""``python -m dflow.runner``: what Argo containers and HPC jobs run, tested as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

OPS_MODULE = """
from pathlib import Path
from dflow.python.op import OP
from dflow.python.opio import OPIO, OPIOSign
from dflow.python.errors import FatalError, TransientError


class Double(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int, "mode": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    def execute(self, op_in):
        if op_in["mode"] == "fatal":
            raise FatalError("cannot double")
        if op_in["mode"] == "transient":
            raise TransientError("try later")
        if op_in["mode"] == "wrong":
            return OPIO(y="twice")
        return OPIO(y=2 * op_in["x"])
"""

SCRIPT = """
from pathlib import Path
from dflow.python.op import OP
from dflow.python.opio import Artifact


@OP.function
def shout(msg: str, n: int = 1) -> {"loud": str, "file": Artifact(Path)}:
    Path("shout.txt").write_text(msg.upper())
    return {"loud": msg.upper() * n, "file": Path("shout.txt")}


if __name__ == "__main__":
    raise SystemExit("the script's main block must not run")
"""


def _layout(root: Path, **params: str) -> list[str]:
    (root / "in/parameters").mkdir(parents=True)
    for name, text in params.items():
        (root / "in/parameters" / name).write_text(text)
    return [
        "--inputs",
        str(root / "in"),
        "--outputs",
        str(root / "out"),
        "--workdir",
        str(root / "wd"),
    ]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dflow.runner", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def ops_dir(tmp_path):
    (tmp_path / "cli_ops_mod.py").write_text(textwrap.dedent(OPS_MODULE))
    return tmp_path


@pytest.mark.parametrize(
    "mode, code, message",
    [
        ("ok", 0, ""),
        ("fatal", 2, "FatalError: cannot double"),
        ("transient", 1, "TransientError: try later"),
        ("wrong", 3, "OP Double: output 'y' expects int, got str ('twice')"),
    ],
)
def test_module_op(ops_dir, mode, code, message):
    args = _layout(ops_dir, x="21", mode=mode)
    proc = _run(["--op", "cli_ops_mod:Double", "--sys-path", str(ops_dir), *args], ops_dir)
    assert proc.returncode == code, proc.stderr
    if code == 0:
        assert (ops_dir / "out/parameters/y").read_text() == "42"
        assert proc.stderr == ""
    else:
        assert proc.stderr.strip().splitlines()[-1] == message


def test_sliced_group_from_the_command_line(ops_dir):
    args = _layout(ops_dir, x="[1, 2, 3]", mode="ok")
    slices = json.dumps({"input_parameter": ["x"], "output_parameter": ["y"], "pool_size": 2})
    proc = _run(
        ["--op", "cli_ops_mod:Double", "--sys-path", str(ops_dir), "--slices", slices,
         "--slice-index", "[0, 2]", "--success-tag", *args],
        ops_dir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads((ops_dir / "out/parameters/y").read_text()) == [
        {"dflow_list_item": 2, "order": 0},
        {"dflow_list_item": 6, "order": 2},
    ]
    assert (ops_dir / "out/success_tag").read_text() == "true"


def test_op_file_does_not_run_the_main_block(tmp_path):
    script = tmp_path / "my workflow.py"
    script.write_text(textwrap.dedent(SCRIPT))
    args = _layout(tmp_path, msg="hey", n="2")
    proc = _run(["--op-file", f"{script}:shout", *args], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out/parameters/loud").read_text() == "HEYHEY"
    assert (tmp_path / "out/artifacts/file/shout.txt").read_text() == "HEY"


def test_unknown_op_and_bad_arguments(ops_dir):
    args = _layout(ops_dir, x="1", mode="ok")
    proc = _run(["--op", "cli_ops_mod:Nope", "--sys-path", str(ops_dir), *args], ops_dir)
    assert proc.returncode == 1
    assert "module 'cli_ops_mod' has no attribute 'Nope'" in proc.stderr
    proc = _run(["--op", "no_colon", *args], ops_dir)
    assert proc.returncode == 1 and "must look like '<module>:<qualname>'" in proc.stderr
    proc = _run(["--op", "cli_ops_mod:Double", "--slice-index", "[0,", *args], ops_dir)
    assert proc.returncode == 1 and "--slice-index is not valid JSON" in proc.stderr
    proc = _run(["--op-file", f"{ops_dir}/missing.py:X", *args], ops_dir)
    assert proc.returncode == 1 and "missing.py' does not exist" in proc.stderr


def test_locate_in_process(ops_dir, monkeypatch):
    from dflow.runner import load_op_file, locate_op

    monkeypatch.syspath_prepend(str(ops_dir))
    assert locate_op("cli_ops_mod:Double").__name__ == "Double"
    assert locate_op("dflow.python.op:OP.function").__name__ == "function"
    script = ops_dir / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    shout = load_op_file(f"{script}:shout")
    monkeypatch.chdir(ops_dir)
    assert shout(msg="a") == {"loud": "A", "file": Path("shout.txt")}  # the function runs
    assert shout.__module__.startswith("dflow_op_file_script_")
    assert load_op_file(f"{script}:shout") is shout  # loaded once

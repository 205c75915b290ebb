"""The third-party executor template installs for real and is picked from dflow.toml by name."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).with_name("uv")

SCRIPT = textwrap.dedent(
    """
    from dflow import OutputParameter, ShellOPTemplate, Step, Workflow

    t = ShellOPTemplate(name="niceness", image="alpine",
                        script="nice > {{outputs.parameters.n.path}}")
    t.outputs.parameters = {"n": OutputParameter(value_from_path="/tmp/n")}
    wf = Workflow(name="nice")
    wf.add(Step("show", t))
    wf.submit()
    step = wf.query_step(name="show")[0]
    print("RESULT", wf.query_status(), step.outputs.parameters["n"].value.strip())
    """
)


def _install(tmp_path):
    """The template installed for real; a work dir whose dflow.toml selects it."""
    site = tmp_path / "site"
    subprocess.run(
        [
            str(UV),
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(ROOT / "templates" / "executor-plugin"),
        ],
        check=True,
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / "dflow.toml").write_text(
        'engine = "local"\nexecutor = "nice"\n\n[executors.nice]\nniceness = 7\n'
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("DFLOW_MODE", None)
    return work, env


def test_template_executor_is_installed_and_selected_by_config(tmp_path):
    work, env = _install(tmp_path)
    listed = subprocess.run(
        [sys.executable, "-m", "dflow", "plugins"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "executor-nice" in listed and "dflow-executor-nice" in listed
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    # `nice -n 7` is relative: under `nice make test` the step runs at ours + 7 (at most 19)
    assert f"RESULT Succeeded {min(19, os.nice(0) + 7)}" in proc.stdout
    logs = list(work.glob("nice-*/*/log.txt"))
    assert any("[nice] running at niceness 7" in p.read_text() for p in logs)


PYTHON_OPS = textwrap.dedent(
    """
    from dflow import Step, Workflow
    from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate

    class NoInputs(OP):
        @classmethod
        def get_input_sign(cls):
            return OPIOSign({})

        @classmethod
        def get_output_sign(cls):
            return OPIOSign({"v": int})

        def execute(self, op_in):
            return OPIO({"v": 3})

    class Fails(OP):
        @classmethod
        def get_input_sign(cls):
            return OPIOSign({})

        @classmethod
        def get_output_sign(cls):
            return OPIOSign({})

        def execute(self, op_in):
            raise ValueError("bad luck 42")

    if __name__ == "__main__":
        wf = Workflow(name="nice-py")
        wf.add([Step("noin", PythonOPTemplate(NoInputs)),
                Step("fails", PythonOPTemplate(Fails), continue_on_failed=True)])
        wf.submit()
        print("RESULT", wf.query_status(),
              wf.query_step(name="noin")[0].outputs.parameters["v"].value)
        print("FAILS", wf.query_step(name="fails")[0].message)
    """
)


def test_template_executor_runs_python_ops_from_a_venv_that_is_not_activated(tmp_path):
    """A Python OP with no inputs through a third-party executor, the venv not on PATH (was:
    FileNotFoundError .../inputs with the step left Running; then 'script exited with 1')."""
    work, env = _install(tmp_path)
    (work / "ops.py").write_text(PYTHON_OPS)
    env["PATH"] = "/usr/bin:/bin"
    proc = subprocess.run(
        [sys.executable, "ops.py"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "RESULT Succeeded 3" in proc.stdout, proc.stdout
    assert "ValueError: bad luck 42" in proc.stdout

"""Executors as third parties write them: whatever they do, a step ends and says why."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from dflow import ShellOPTemplate, Step, Workflow
from dflow.executor import Executor, JobResult
from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate, upload_packages

TERMINAL = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")


class NoInputs(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"v": int})

    def execute(self, op_in):
        return OPIO({"v": 3})


class Utf8Mode(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"utf8": int})

    def execute(self, op_in):
        return OPIO({"utf8": sys.flags.utf8_mode})


class Fails(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({})

    def execute(self, op_in):
        raise ValueError("bad luck 42")


class Here(Executor):
    """Runs the job where it is, with the caller's environment (as a local scheduler would)."""

    def run(self, job):
        with open(job.log_path, "ab") as log:
            code = subprocess.run(
                [*job.command, str(job.script_path)],
                cwd=job.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **job.env},
            ).returncode
        return JobResult(code, "" if code == 0 else f"script exited with {code}")


def _phases(wf):
    return {s.name.rsplit(".", 1)[-1]: (s.phase, s.get("message") or "") for s in wf.query_step()}


def test_python_op_without_inputs_and_without_an_activated_venv(workdir, monkeypatch):
    """Was: FileNotFoundError .../inputs with the step left Running; and with python3 from
    a PATH that does not hold the venv, only 'script exited with 1'."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    wf = Workflow("noin")
    wf.add(
        [
            Step("ok", PythonOPTemplate(NoInputs), executor=Here()),
            Step("bad", PythonOPTemplate(Fails), executor=Here(), continue_on_failed=True),
            Step(
                "own-command",
                PythonOPTemplate(Utf8Mode, command=[sys.executable, "-X", "utf8"]),
                executor=Here(),
            ),
        ]
    )
    wf.submit()
    assert wf.query_status() == "Succeeded", _phases(wf)
    assert wf.query_step(name="ok")[0].outputs.parameters["v"].value == 3
    assert wf.query_step(name="own-command")[0].outputs.parameters["utf8"].value == 1
    phase, message = _phases(wf)["bad"]
    assert phase == "Failed"
    assert "ValueError: bad luck 42" in message  # the log's tail, not just the exit code


class UsesPackage(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"v": int})

    def execute(self, op_in):
        import shipped_helper_xyz

        return OPIO({"v": shipped_helper_xyz.VALUE + op_in["x"]})


class Elsewhere(Executor):
    """Like another host: runs a copy of the job's inputs, the client's files out of reach."""

    def __init__(self, hide):
        self.hide = hide

    def run(self, job):
        remote = Path(tempfile.mkdtemp())
        for name in job.inputs:  # what a remote executor sends: the files links point to
            src, dst = Path(job.workdir, name), remote / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, dst) if src.is_dir() else shutil.copyfile(src, dst)
        away = self.hide.with_name(self.hide.name + "-away")
        self.hide.rename(away)
        try:
            with open(job.log_path, "ab") as log:
                code = subprocess.run(
                    [*job.command, str(job.script_path)],
                    cwd=remote,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **job.env},
                ).returncode
        finally:
            away.rename(self.hide)
        for name in job.outputs:
            if (remote / name).exists():
                shutil.copytree(remote / name, Path(job.workdir, name), dirs_exist_ok=True)
        return JobResult(code, "" if code == 0 else f"script exited with {code}")


def test_upload_packages_reach_a_job_on_another_host(workdir, tmp_path):
    pkg = tmp_path / "pkgs" / "shipped_helper_xyz"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("VALUE = 5\n")
    upload_packages.append(str(pkg))
    try:
        tmpl = PythonOPTemplate(UsesPackage)
    finally:
        upload_packages.remove(str(pkg))
    wf = Workflow("ship")
    wf.add(Step("s", tmpl, parameters={"x": 1}, executor=Elsewhere(pkg.parent)))
    wf.submit()
    assert wf.query_status() == "Succeeded", _phases(wf)
    assert wf.query_step(name="s")[0].outputs.parameters["v"].value == 6


class Raises(Executor):
    def run(self, job):
        raise SystemExit("executor bailed out")


class ReturnsNothing(Executor):
    def run(self, job):
        return None


class IgnoresCancel(Executor):
    def run(self, job):
        time.sleep(10)  # never looks at job.cancelled (the engine gives up after ~2 s)
        return JobResult(0)


def test_a_step_never_stays_running_whatever_the_executor_does(workdir, monkeypatch):
    from dflow_engine_local import batch

    monkeypatch.setattr(batch, "TIMEOUT_GRACE", 0.2)
    monkeypatch.setattr(batch, "CANCEL_GRACE", 0.5)
    t = ShellOPTemplate(name="sh", script="echo hi")
    slow = ShellOPTemplate(name="slow", script="echo hi", timeout=1)
    wf = Workflow("broken-executors")
    wf.add(
        [
            Step("raises", t, executor=Raises(), continue_on_failed=True),
            Step("returns-none", t, executor=ReturnsNothing(), continue_on_failed=True),
            Step("ignores-cancel", slow, executor=IgnoresCancel(), continue_on_failed=True),
        ]
    )
    wf.submit()
    phases = _phases(wf)
    assert wf.query_status() == "Succeeded", phases
    assert phases["raises"][0] == "Failed"
    assert "executor Raises raised SystemExit: executor bailed out" in phases["raises"][1]
    assert "returned None, not a JobResult" in phases["returns-none"][1]
    assert phases["ignores-cancel"][0] == "Failed"
    assert "timed out" in phases["ignores-cancel"][1]
    assert "did not return within 0.5 s" in phases["ignores-cancel"][1]


def test_an_internal_error_is_the_steps_error(workdir, monkeypatch):
    from dflow_engine_local import remote_op

    def broken(op_type):
        raise RuntimeError("cannot name the OP")

    monkeypatch.setattr(remote_op, "op_spec", broken)
    wf = Workflow("internal")
    wf.add(Step("s", PythonOPTemplate(NoInputs), executor=Here()))
    wf.submit()
    assert wf.query_status() in ("Failed", "Error")
    phase, message = _phases(wf)["s"]
    assert phase == "Error"
    assert "RuntimeError: cannot name the OP" in message
    assert all(p in TERMINAL for p, _ in _phases(wf).values())


def test_a_bug_in_the_engine_leaves_no_step_running(workdir, monkeypatch):
    from dflow import Steps
    from dflow_engine_local import interpreter

    def broken(ctx, frame, res):
        raise KeyError("a bug")

    monkeypatch.setattr(interpreter, "template_outputs", broken)
    inner = Steps("inner")
    inner.add(Step("leaf", ShellOPTemplate(name="sh", script="echo hi")))
    wf = Workflow("bug")
    wf.add(Step("nested", inner))
    wf.submit()
    assert wf.query_status() == "Error"
    phases = _phases(wf)
    assert phases["leaf"][0] == "Succeeded"
    assert phases["nested"][0] == "Error"
    assert "the run ended before this step finished" in phases["nested"][1]
    assert "KeyError" in phases["nested"][1]


RUNNER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from dflow import Step, Workflow, config
    from dflow.python import PythonOPTemplate
    from local_engine_ops import Boom
    config["mode"] = "local"
    config["debug_workdir"] = {workdir!r}
    wf = Workflow("dies", id="dies-1")
    wf.add(Step("sleeper", PythonOPTemplate(Boom), parameters={{"mode": "sleep", "counter": ""}}))
    wf.submit()
""")


def test_a_dead_runner_leaves_no_step_running(workdir):
    script = workdir / "run.py"
    script.write_text(RUNNER.format(tests=os.path.dirname(__file__), workdir=str(workdir)))
    proc = subprocess.Popen([sys.executable, str(script)])
    wf = Workflow(id="dies-1")
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                if any(s.phase == "Running" and s.type == "Pod" for s in wf.query_step()):
                    break
            except Exception:  # the journal is not there yet
                pass
            time.sleep(0.05)
        else:
            pytest.fail("the step never started")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert wf.query_status() == "Failed"
    phases = _phases(wf)
    assert phases["sleeper"][0] == "Error"
    assert "died" in phases["sleeper"][1]
    assert all(p in TERMINAL for p, _ in phases.values())

"""Minimal end-to-end: Steps of Python OP and shell steps, outputs, query."""

from __future__ import annotations

import os
import threading
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
from dflow.python import PythonOPTemplate
from local_engine_ops import AppendLine, Hello


def test_python_and_shell_steps(workdir):
    Path("foo.txt").write_text("Hi\n")
    art = upload_artifact("foo.txt")
    hello = Step(
        "hello", PythonOPTemplate(Hello), parameters={"msg": "ab", "num": 3}, artifacts={"foo": art}
    )
    shell = ShellOPTemplate(
        name="count",
        script="wc -l < /tmp/inputs/artifacts/bar/output.txt | tr -d ' ' > /tmp/outputs/parameters/n\n"
        "echo {{inputs.parameters.msg}} > /tmp/outputs/artifacts/copy\n",
    )
    shell.inputs.parameters = {"msg": InputParameter()}
    shell.inputs.artifacts = {"bar": InputArtifact(path="/tmp/inputs/artifacts/bar")}
    shell.outputs.parameters = {"n": OutputParameter(value_from_path="/tmp/outputs/parameters/n")}
    shell.outputs.artifacts = {"copy": OutputArtifact(path="/tmp/outputs/artifacts/copy")}
    count = Step(
        "count",
        shell,
        parameters={"msg": hello.outputs.parameters["msg"]},
        artifacts={"bar": hello.outputs.artifacts["bar"]},
    )
    wf = Workflow("basic")
    wf.add(hello)
    wf.add(count)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    [h] = wf.query_step(name="hello")
    assert h.phase == "Succeeded" and h.type == "Pod"
    assert h.outputs.parameters["msg"].value == "ababab"
    [c] = wf.query_step(name="count")
    assert c.outputs.parameters["n"].value == "3"
    copy = c.outputs.artifacts["copy"]["local_path"]
    assert Path(copy).read_text() == "ababab\n"
    assert h.get_duration().total_seconds() >= 0
    wf_dir = workdir / wf.id
    assert (wf_dir / "status").read_text() == "Succeeded"
    step_dir = wf_dir / h.id
    assert (step_dir / "phase").read_text() == "Succeeded"
    assert (step_dir / "inputs" / "parameters" / "msg").read_text() == "ab"
    assert (step_dir / "outputs" / "parameters" / "msg").read_text() == "ababab"
    assert os.path.exists(wf_dir / c.id / "script")
    # the declared paths were mapped, the script itself kept its text elsewhere
    assert str(wf_dir / c.id / "workdir" / "tmp") in (wf_dir / c.id / "script").read_text()


def test_the_workers_are_forked_before_any_thread_of_the_run_starts(workdir, monkeypatch, capsys):
    """A fork while another thread holds a lock (the progress view writing to the console)
    leaves that lock held forever in the child, and Python 3.12+ warns of every fork with
    threads running: the pool forks first, and the progress view draws from the run's first
    event on (it still draws: a step outlasts a few of its intervals)."""
    from dflow.config import config

    config["quiet"] = False
    config["progress_interval"] = 0.05
    before = {t.name for t in threading.enumerate()}
    at_fork: list[set[str]] = []
    fork = os.fork

    def observed_fork() -> int:
        at_fork.append({t.name for t in threading.enumerate()} - before)
        return fork()

    monkeypatch.setattr(os, "fork", observed_fork)
    wf = Workflow("forks")
    wf.add(
        Step(
            "slow",
            PythonOPTemplate(AppendLine),
            parameters={"x": 1, "path": str(workdir / "lines"), "delay": 0.5},
        )
    )
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert at_fork and all(extra == set() for extra in at_fork), at_fork
    assert "[dflow] " in capsys.readouterr().err

"""Minimal end-to-end: Steps of Python OP and shell steps, outputs, query."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

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
    wf = _one_step("forks", workdir, delay=0.5)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert at_fork and all(extra == set() for extra in at_fork), at_fork
    assert "[dflow] " in capsys.readouterr().err


def test_a_worker_forked_while_a_thread_writes_to_stdout_runs_steps(workdir):
    """A fork while another thread is inside a write to ``sys.stdout`` leaves the stream's
    lock held in the child by a thread it does not have (a dead worker's replacement forks
    beside the run's threads; the caller may have threads of its own): the worker writes to
    streams of its own and never waits on the inherited one."""
    read_end, write_end = os.pipe()
    console = open(write_end, "w", buffering=1)  # closed below
    fork, stdout = os.fork, sys.stdout

    def fork_during_a_blocked_write() -> int:
        os.set_blocking(write_end, False)
        with contextlib.suppress(BlockingIOError):
            while True:  # the pipe full: the next write blocks, holding the stream's lock
                os.write(write_end, b"." * 65536)
        os.set_blocking(write_end, True)
        writer = threading.Thread(target=console.buffer.write, args=(b"!" * 65536,))
        writer.start()
        time.sleep(0.2)  # inside the write
        pid = fork()
        if pid:
            os.set_blocking(read_end, False)
            while _drain(read_end) or writer.is_alive():  # until the write is over
                time.sleep(0.01)
            writer.join()
        return pid

    # a worker stuck on the inherited stream fails the step, not the test run
    wf = _one_step("fork-held-stdout", workdir, delay=0.0, timeout=20)
    os.fork, sys.stdout = fork_during_a_blocked_write, console
    try:
        wf.submit()
    finally:
        os.fork, sys.stdout = fork, stdout
        console.close()
        os.close(read_end)
    assert wf.query_status() == "Succeeded"
    assert (workdir / "lines").read_text() == "1\n"


CLOSED_OUTPUT = """
import os, sys
from dflow import Step, Workflow
from dflow.python import OP, PythonOPTemplate

@OP.function
def hello(i: int) -> {"o": int}:
    print("hello", i)
    return {"o": i + 1}

wf = Workflow("closed")
wf.add(Step("s", PythonOPTemplate(hello), parameters={"i": 1}))
os.close(1)  # a daemon's output
wf.submit()
[s] = wf.query_step(name="s")
with open(os.path.join(wf.id, s.id, "log.txt")) as f:
    sys.stderr.write(f"status {wf.query_status()} log {f.read()!r}")
"""


def test_a_caller_with_its_output_closed_runs_steps(workdir):
    """A process that closed fd 1 still runs Python OP steps, their output in their logs:
    the log's descriptor took the closed number and was closed with it ("worker died");
    a worker opens a closed fd 1 or 2 on the null device first."""
    script = workdir / "closed_output.py"
    script.write_text(CLOSED_OUTPUT)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith("status Succeeded log 'hello 1\\n'"), done.stderr


def _one_step(name: str, workdir: Path, delay: float, **step: Any) -> Workflow:
    """A workflow of one step appending ``1`` to ``workdir/lines`` after ``delay`` s."""
    wf = Workflow(name)
    wf.add(
        Step(
            "step",
            PythonOPTemplate(AppendLine),
            parameters={"x": 1, "path": str(workdir / "lines"), "delay": delay},
            **step,
        )
    )
    return wf


def _drain(fd: int) -> bool:
    try:
        return bool(os.read(fd, 1 << 20))
    except BlockingIOError:
        return False

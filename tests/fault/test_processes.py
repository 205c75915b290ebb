"""No process outlives its step: timeouts, steps' leftovers, deaf steps, terminate."""

from __future__ import annotations

import os
import subprocess
import time

from dflow import ShellOPTemplate, Step, Workflow
from dflow.python import PythonOPTemplate
from fault_helpers import read_pids, running
from fault_ops import Spawn

SCRIPT = """
echo start
{deaf}
sleep 300 & echo $! >> {pids}
(setsid sleep 301 & echo $! >> {pids})
{end}
"""


def _spawn_step(workdir, mode, **kw):
    pids = workdir / "pids"
    step = Step(
        "spawn", PythonOPTemplate(Spawn), parameters={"mode": mode, "pids": str(pids)}, **kw
    )
    return step, pids


def _log(workdir, name):
    [log] = [p for p in workdir.glob(f"*/*-{name}-*/log.txt")]
    return log.read_text()


def test_python_op_timeout_kills_its_children_and_daemons(workdir):
    step, pids = _spawn_step(workdir, "hang", timeout=1)
    wf = Workflow("op-timeout")
    wf.add(step)
    wf.submit()
    [s] = wf.query_step(name="spawn")
    assert s.phase == "Failed" and "timed out after 1 s (its worker was killed)" in s.message
    assert len(read_pids(pids)) == 2
    assert running(read_pids(pids)) == []


def test_python_op_leftovers_die_when_the_step_ends(workdir):
    step, pids = _spawn_step(workdir, "leave")
    after = Step(
        "after", PythonOPTemplate(Spawn), parameters={"mode": "leave", "pids": "/dev/null"}
    )
    wf = Workflow("op-leftovers")
    wf.add(step)
    wf.add(after)  # the worker that reaped is reused
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert len(read_pids(pids)) == 2
    assert running(read_pids(pids), settle=0) == []  # gone when the step ended, not later
    assert "[dflow] the step left 2 process(es) running: killed (SIGTERM)" in _log(workdir, "spawn")


def test_python_op_ignoring_sigterm_gets_sigkill_and_says_so(workdir):
    step, pids = _spawn_step(workdir, "deaf", timeout=1)
    wf = Workflow("op-deaf")
    wf.add(step)
    wf.submit()
    [s] = wf.query_step(name="spawn")
    assert s.phase == "Failed"
    assert "it ignored SIGTERM and was killed with SIGKILL after 2 s" in s.message
    assert running(read_pids(pids)) == []


def _script_step(workdir, deaf=False, end="echo end", **kw):
    pids = workdir / "pids"
    t = ShellOPTemplate(
        name="sh",
        script=SCRIPT.format(pids=pids, deaf="trap '' TERM" if deaf else "", end=end),
    )
    return Step("sh", t, **kw), pids


def test_script_background_children_and_daemons_die_when_the_step_ends(workdir):
    step, pids = _script_step(workdir)
    wf = Workflow("sh-leftovers")
    wf.add(step)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert len(read_pids(pids)) == 2
    assert running(read_pids(pids), settle=0) == []
    assert "[dflow] the step left processes running: killed (SIGTERM)" in _log(workdir, "sh")


def test_script_ignoring_sigterm_is_killed_on_timeout_and_says_so(workdir):
    step, pids = _script_step(workdir, deaf=True, end="sleep 300", timeout=1)
    wf = Workflow("sh-deaf")
    wf.add(step)
    wf.submit()
    [s] = wf.query_step(name="sh")
    assert s.phase == "Failed"
    assert "timed out after 1 s (its process group was killed; it ignored SIGTERM" in s.message
    assert running(read_pids(pids), settle=0) == []


def test_terminate_kills_the_running_script_and_what_it_started(workdir):
    step, pids = _script_step(workdir, end="sleep 300")
    wf = Workflow("sh-terminate")
    wf.add(step)
    wf.submit(wait=False)
    deadline = time.monotonic() + 30
    while len(read_pids(pids)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    wf.terminate()
    assert wf.wait(interval=0.05) == "Failed"
    assert len(read_pids(pids)) == 2
    assert running(read_pids(pids)) == []


def test_a_process_in_the_middle_of_its_exec_is_known_by_its_markers():
    """How a step's leftovers are found: by the markers in their environment. A process whose
    ``execve`` is under way reads an empty one (about one in five when ``Popen`` has just
    returned); it must still be found, as the daemon a script starts as it ends must be."""
    from dflow_engine_local.procs import carries, is_alive

    token = f"{os.getpid()}-{time.monotonic_ns()}"
    started, missed = [], []
    try:
        for _ in range(100):
            p = subprocess.Popen(["sleep", "30"], env={**os.environ, "DFLOW_TEST_MARK": token})
            started.append(p)
            if not carries(p.pid, f"DFLOW_TEST_MARK={token}".encode()) and is_alive(p.pid):
                missed.append(p.pid)
    finally:
        for p in started:
            p.kill()
            p.wait()
    assert missed == [], f"{len(missed)} of {len(started)} live processes not found"

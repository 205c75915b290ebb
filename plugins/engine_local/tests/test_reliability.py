"""Reliability: wide fan-outs, SIGKILL then resume with exactly-once finished slices."""

from __future__ import annotations

import gc
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import weakref

import pytest
from dflow import InputParameter, Inputs, ShellOPTemplate, Step, Workflow
from dflow.python import PythonOPTemplate, Slices
from dflow_engine_local.pool import WorkerPool
from local_engine_ops import Square, Sum


def test_thousand_way_fan_out_ten_times(workdir):
    for run in range(10):
        fan = Step(
            "sq",
            PythonOPTemplate(Square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
            parameters={"x": list(range(1000))},
        )
        total = Step("sum", PythonOPTemplate(Sum), parameters={"xs": fan.outputs.parameters["y"]})
        wf = Workflow(f"wide{run}")
        wf.add(fan)
        wf.add(total)
        wf.submit()
        assert wf.query_status() == "Succeeded"
        [s] = wf.query_step(name="sum")
        assert s.outputs.parameters["total"].value == sum(i * i for i in range(1000))
        assert len(wf.query_step(name="sq", type="Pod", phase="Succeeded")) == 1000


SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from dflow import Step, Workflow, config
    from dflow.python import PythonOPTemplate, Slices
    from local_engine_ops import AppendLine
    config["mode"] = "local"
    config["debug_workdir"] = {workdir!r}
    config["debug_pool_workers"] = 2
    step = Step("fan", PythonOPTemplate(AppendLine, slices=Slices(
        input_parameter=["x"], output_parameter=["y"])),
        parameters={{"x": list(range(200)), "path": {out!r}, "delay": 0.01}})
    wf = Workflow("killme", id="killme-1")
    wf.add(step)
    wf.submit()
    print(wf.query_status())
""")


def _succeeded_slices(db: str) -> set[int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT display_name FROM nodes WHERE type='Pod' AND phase='Succeeded'"
        ).fetchall()
    finally:
        conn.close()
    return {int(r[0].split("(")[1].split(":")[0]) for r in rows}


def _journal_status(db: str) -> str:
    """The workflow status a journal holds, as stored (JSON text: ``'"Failed"'``)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        [(status,)] = conn.execute("SELECT v FROM meta WHERE k='status'").fetchall()
    finally:
        conn.close()
    return status


def _interrupt_fan_out_then_resume(workdir, sig: int) -> tuple[subprocess.CompletedProcess, str]:
    """Run SCRIPT, send ``sig`` once 40 of its 200 slices are journaled, run it again; the
    resumed run ran each journaled slice once. The interrupted process's output, and the
    status its journal held when it had ended."""
    out = str(workdir / "lines.txt")
    script = workdir / "run.py"
    script.write_text(SCRIPT.format(tests=os.path.dirname(__file__), workdir=str(workdir), out=out))
    db = str(workdir / "killme-1" / "journal.db")
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    done: set[int] = set()
    while time.monotonic() < deadline:
        if os.path.exists(db):
            try:
                done = _succeeded_slices(db)
            except sqlite3.Error:
                done = set()
            if len(done) >= 40:
                break
        time.sleep(0.02)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert 40 <= len(done) < 200
    finished_before = _succeeded_slices(db)
    status = _journal_status(db)
    resumed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert resumed.stdout.strip().endswith("Succeeded"), resumed.stderr
    lines = [int(x) for x in open(out).read().split()]
    counts = {i: lines.count(i) for i in range(200)}
    assert all(counts[i] >= 1 for i in range(200))
    assert all(counts[i] == 1 for i in finished_before)  # exactly once once journaled
    # at most the slices in flight at the kill ran twice: a chunk per worker (2 workers),
    # each of which may have run ahead of what the runner journaled
    assert len(lines) - 200 <= 2 * (WorkerPool.CHUNK + 1)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), status


def test_sigkill_mid_fan_out_then_resume(workdir):
    _interrupt_fan_out_then_resume(workdir, signal.SIGKILL)


def test_ctrl_c_mid_fan_out_stops_the_run_then_resume(workdir):
    """Ctrl-C (SIGINT to the script; its steps lead process groups of their own, so the
    terminal's signal reaches only the script): the run stops, the journal says Failed, the
    script ends with KeyboardInterrupt, and it resumes."""
    stopped, status = _interrupt_fan_out_then_resume(workdir, signal.SIGINT)
    assert status == '"Failed"'
    assert stopped.returncode != 0
    assert stopped.stderr.rstrip().endswith("KeyboardInterrupt"), stopped.stderr[-2000:]
    assert "Succeeded" not in stopped.stdout


STOPPED_SCRIPT = textwrap.dedent("""
    from dflow import ShellOPTemplate, Step, Workflow, config
    config["mode"] = "local"
    config["debug_workdir"] = {workdir!r}
    slow = ShellOPTemplate(name="slow", image="alpine", script="{marker}; echo done")
    wf = Workflow("stopme", id="stopme-1")
    wf.add(Step("slow", slow))
    wf.submit()
    print(wf.query_status())
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_script_step_and_all_it_started(workdir, sig):
    """Ctrl-C, or SIGTERM (a batch system's time limit, ``timeout``, ``kill``): the script
    step's own children die too (a process killed with its runner left them running until
    the workflow's next submit), the step and the workflow say why, and the script ends as
    the signal says: KeyboardInterrupt, or killed by SIGTERM."""
    marker = f"sleep 61.{os.getpid()}{int(sig)}"
    script = workdir / "stop.py"
    script.write_text(STOPPED_SCRIPT.format(workdir=str(workdir), marker=marker))
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _pids(marker):
            time.sleep(0.05)
        assert _pids(marker), "the step never started"
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
        assert _pids(marker) == []
    finally:
        subprocess.run(["pkill", "-f", marker], check=False)
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGTERM:
        assert proc.returncode == -signal.SIGTERM
        why = "terminated (SIGTERM)"
    else:
        assert stderr.rstrip().endswith("KeyboardInterrupt"), stderr[-2000:]
        why = "interrupted (Ctrl-C)"
    db = str(workdir / "stopme-1" / "journal.db")
    status = _journal_status(db)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        [(phase, message)] = conn.execute(
            "SELECT phase, message FROM nodes WHERE type='Pod'"
        ).fetchall()
    finally:
        conn.close()
    assert (status, phase) == ('"Failed"', "Failed")
    assert message == f"{why}; submit it again with the same id to resume it"


REPLACED_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from dflow import Step, Workflow, config
    from dflow.python import PythonOPTemplate
    from local_engine_ops import Boom
    config["mode"] = "local"
    config["debug_workdir"] = {workdir!r}
    config["debug_pool_workers"] = 1
    def boom(name, mode, **kw):
        return Step(name, PythonOPTemplate(Boom, **kw), parameters={{"mode": mode, "counter": ""}},
                    continue_on_failed=True, continue_on_error=True)
    wf = Workflow("replaced")
    wf.add(boom("dies", "exit"))
    wf.add(boom("slow", "sleep", timeout=1))
    wf.add(boom("after", "ok"))
    wf.submit()
    print({{s.displayName: s.phase for s in wf.query_step(type="Pod")}})
""")


def test_killing_a_replacement_worker_does_not_stop_the_run(workdir):
    """A worker that dies is replaced by a fork of the runner while the runner's event loop
    takes SIGTERM. The copy must not keep that handler: the runner SIGTERMs a worker whose
    step timed out, and a copy that kept it wrote the signal into the runner's own loop, which
    then stopped the run and ended the user's process by SIGTERM."""
    script = workdir / "replaced.py"
    script.write_text(REPLACED_SCRIPT.format(tests=os.path.dirname(__file__), workdir=str(workdir)))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    phases = run.stdout.strip().splitlines()[-1]
    assert phases == "{'dies': 'Error', 'slow': 'Failed', 'after': 'Succeeded'}", run.stdout


def _pids(pattern: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()


def test_the_engine_does_not_keep_every_workflow_it_ran(workdir):
    """Definitions are kept for retry/resubmit: the latest 16 and those still in use (was:
    every workflow ever submitted from the process, 105 after 105 submissions)."""

    def tiny(i):
        wf = Workflow(f"keep{i}")
        wf.add(Step("s", ShellOPTemplate(name="t", script="true")))
        wf.submit()
        assert wf.query_status() == "Succeeded"
        return wf

    first = tiny(0)
    freed = weakref.ref(first)
    held = tiny(1)  # still referenced here: it stays retryable however many follow
    for i in range(2, 20):
        last = tiny(i)
    del first
    gc.collect()
    assert freed() is None
    held.retry()
    last.retry()
    assert held.query_status() == last.query_status() == "Succeeded"


def test_a_big_parameter_is_journaled_once(workdir):
    """SQLite rewrites a whole row on UPDATE: inputs in the nodes row were written again by
    every phase change (the journal held a 50 MB parameter twice)."""
    big = "x" * (8 * 1024 * 1024)
    wf = Workflow("big")
    t = ShellOPTemplate(
        name="take", script="true", inputs=Inputs(parameters={"s": InputParameter()})
    )
    wf.add(Step("take", t, parameters={"s": big}))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    [take] = wf.query_step(name="take")
    assert take.inputs.parameters["s"].value == big
    size = os.path.getsize(workdir / wf.id / "journal.db")
    assert size < 1.5 * len(big), f"journal of {size} bytes for a parameter of {len(big)}"

"""Background runs, control from the API, and queries from another process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from dflow import ShellOPTemplate, Step, Workflow
from dflow.python import PythonOPTemplate
from dflow_engine_local.procs import is_alive
from local_engine_ops import Add, Boom


def _sleeper(name, seconds):
    return ShellOPTemplate(name=name, script=f"sleep {seconds}")


def _wait_phase(wf, step, phase, timeout=120):  # the timeout only bounds a hang
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = wf.query_step(name=step)
        if found and found[0].phase == phase:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"step {step} never reached {phase}")


def test_background_run_queried_from_another_process(workdir):
    wf = Workflow("bg")
    wf.add(Step("nap", _sleeper("nap", 0.5)))
    wf.add(Step("add", PythonOPTemplate(Add), parameters={"a": 2, "b": 3}, key="the-add"))
    wf.submit(wait=False)
    assert wf.query_status() == "Running"
    assert wf.wait(interval=0.05) == "Succeeded"
    code = (
        "import json, sys\n"
        "from dflow import Workflow, config\n"
        f"config['debug_workdir'] = {str(workdir)!r}\n"
        "config['mode'] = 'local'\n"
        f"wf = Workflow(id={wf.id!r})\n"
        "[s] = wf.query_step(key='the-add')\n"
        "print(json.dumps([wf.query_status(), s.phase, s.outputs.parameters['c'].value,"
        " [x.displayName for x in wf.query_step(name=['nap', 'add'])]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["Succeeded", "Succeeded", 5, ["nap", "add"]]


def test_terminate_kills_running_step(workdir):
    pidfile = workdir / "sleep.pid"
    wf = Workflow("term")
    long_ = ShellOPTemplate(name="long", script=f"sleep 600 & echo $! > {pidfile}; wait")
    wf.add(Step("long", long_))
    wf.add(Step("never", PythonOPTemplate(Add), parameters={"a": 1, "b": 1}))
    wf.submit(wait=False)
    _wait_phase(wf, "long", "Running")
    deadline = time.monotonic() + 120
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, "the step's script never started its sleep"
        time.sleep(0.05)
    wf.terminate()
    assert wf.wait(interval=0.05) == "Failed"
    [long] = wf.query_step(name="long")
    assert long.phase == "Failed" and "terminated" in long.message
    assert not wf.query_step(name="never")
    # the script's child was killed, not left to finish its 600 s (the deadline bounds a hang)
    child = int(pidfile.read_text())
    while is_alive(child):
        assert time.monotonic() < deadline, f"the step's child {child} outlived terminate()"
        time.sleep(0.05)


def test_suspend_and_resume(workdir):
    # the first step waits for a flag, so it is still running whatever the machine's load
    flag = workdir / "go"
    gate = ShellOPTemplate(name="first", script=f"while [ ! -e {flag} ]; do sleep 0.02; done")
    wf = Workflow("susp")
    wf.add(Step("first", gate))
    wf.add(Step("second", PythonOPTemplate(Add), parameters={"a": 1, "b": 1}))
    wf.submit(wait=False)
    wf.suspend()  # returns once the runner has applied it
    flag.write_text("")
    _wait_phase(wf, "first", "Succeeded")
    time.sleep(0.6)
    assert not wf.query_step(name="second") or wf.query_step(name="second")[0].phase == "Pending"
    assert wf.query_status() == "Running"
    wf.resume()
    assert wf.wait(interval=0.05) == "Succeeded"
    assert wf.query_step(name="second")[0].outputs.parameters["c"].value == 2


def test_no_step_starts_after_terminate_returns(workdir):
    # the first step waits for a flag opened only once terminate() has returned
    flag = workdir / "go"
    gate = ShellOPTemplate(name="first", script=f"while [ ! -e {flag} ]; do sleep 0.01; done")
    wf = Workflow("term-gate")
    wf.add(Step("first", gate))
    wf.add(Step("second", PythonOPTemplate(Add), parameters={"a": 1, "b": 1}))
    wf.submit(wait=False)
    _wait_phase(wf, "first", "Running")
    wf.terminate()  # returns once the runner has applied it
    flag.write_text("")
    assert wf.wait(interval=0.05) == "Failed"
    assert wf.query_step(name="second") == []


def test_retry_resubmit_delete(workdir):
    counter = str(workdir / "count")
    flag = workdir / "flag"
    t = ShellOPTemplate(name="gate", script=f"test -e {flag}")
    wf = Workflow("retry")
    wf.add(Step("once", PythonOPTemplate(Boom), parameters={"mode": "ok", "counter": counter}))
    wf.add(Step("gate", t))
    wf.submit()
    assert wf.query_status() == "Failed"
    flag.write_text("")
    wf.retry()
    assert wf.query_status() == "Succeeded"
    assert open(counter).read() == "1"  # the succeeded step did not run again
    old = wf.id
    wf.resubmit()
    assert open(counter).read() == "2"
    assert len([d for d in os.listdir(workdir) if d.startswith("retry-")]) == 2
    wf.delete()
    assert not os.path.exists(workdir / old)

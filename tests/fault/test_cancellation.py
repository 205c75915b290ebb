"""Stop and failfast cancellation kill what the cancelled steps started; nothing survives.

``wf.stop()`` fails the running steps, kills their processes and still runs the exit handler
(Argo's Stop strategy; pydflow's debug mode has no stop: it calls the Argo server).
``debug_failfast`` fails a fan-out at its first failed item and kills the items in flight.
"""

from __future__ import annotations

import time

from dflow import InputParameter, ShellOPTemplate, Step, Workflow, config
from dflow.python import PythonOPTemplate
from fault_helpers import read_pids, running
from fault_ops import Spawn

SCRIPT = """
sleep 300 & echo $! >> {pids}
(setsid sleep 301 & echo $! >> {pids})
sleep 302
"""


def _wait_for(pids, n):
    deadline = time.monotonic() + 60
    while len(read_pids(pids)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(read_pids(pids)) == n


def test_stop_kills_running_steps_and_runs_the_exit_handler(workdir):
    mark = workdir / "exit.txt"
    sh_pids, op_pids = workdir / "sh-pids", workdir / "op-pids"
    wf = Workflow("stopped", on_exit=ShellOPTemplate(name="bye", script=f"echo bye >> {mark}"))
    sh = Step("sh", ShellOPTemplate(name="sh", script=SCRIPT.format(pids=sh_pids)))
    op = Step("op", PythonOPTemplate(Spawn), parameters={"mode": "hang", "pids": str(op_pids)})
    wf.add([sh, op])  # in parallel: a script step and a Python OP step, each with children
    wf.submit(wait=False)
    _wait_for(sh_pids, 2)
    _wait_for(op_pids, 2)
    wf.stop()

    assert wf.wait(interval=0.05) == "Failed"
    assert running(read_pids(sh_pids) + read_pids(op_pids), settle=0) == []
    assert mark.read_text() == "bye\n"  # Stop, unlike terminate, runs the exit handler
    for name in ("sh", "op"):
        [s] = wf.query_step(name=name)
        assert s.phase == "Failed" and "workflow stopped" in s.message, (name, s.message)
    [bye] = [s for s in wf.query_step() if s.name.endswith(".onExit")]
    assert bye.phase == "Succeeded"
    assert "workflow stopped" in wf.query().status.message


def _check_failfast(wf, pids, failed):
    """Failed, nothing of the items left alive, the message names the failed item, and the
    items in flight are Failed saying why."""
    assert wf.query_status() == "Failed"
    assert len(read_pids(pids)) == 4  # two items in flight, a child and a daemon each
    assert running(read_pids(pids), settle=0) == []
    message = wf.query().status.message
    assert f"1 of 3 items failed; first: step 'fan({failed})'" in message, message
    items = sorted((s.displayName, s.phase, s.message) for s in wf.query_step(type="Pod"))
    assert [(n, p) for n, p, _ in items] == [
        ("fan(0:hang)", "Failed"),
        (f"fan({failed})", "Failed"),
        ("fan(2:hang)", "Failed"),
    ]
    assert "debug_failfast stops the fan-out at its first failure" in items[0][2]
    assert "debug_failfast stops the fan-out at its first failure" in items[2][2]


def test_failfast_script_fan_out_kills_the_items_in_flight(workdir):
    pids = workdir / "pids"
    body = SCRIPT.format(pids=pids).strip().replace("\n", "; ")
    script = f"""
case "{{{{inputs.parameters.mode}}}}" in
  fail) while [ "$(cat {pids} 2>/dev/null | wc -l)" -lt 4 ]; do sleep 0.02; done
        echo failing on purpose; exit 3 ;;
  *) {body} ;;
esac
"""
    t = ShellOPTemplate(name="item", script=script)
    t.inputs.parameters = {"mode": InputParameter()}
    wf = Workflow("failfast-sh")
    wf.add(Step("fan", t, parameters={"mode": "{{item}}"}, with_param=["hang", "fail", "hang"]))
    config["debug_failfast"] = True
    config["debug_pool_workers"] = 3  # every item runs at once
    wf.submit()
    _check_failfast(wf, pids, "1:fail")


def test_failfast_python_fan_out_kills_the_items_in_flight(workdir):
    pids = workdir / "pids"
    wf = Workflow("failfast-op")
    wf.add(
        Step(
            "fan",
            PythonOPTemplate(Spawn),
            parameters={"mode": "{{item}}", "pids": str(pids)},
            with_param=["hang", "fail-after-4", "hang"],
        )
    )
    config["debug_failfast"] = True
    config["debug_pool_workers"] = 3
    wf.submit()
    _check_failfast(wf, pids, "1:fail-after-4")

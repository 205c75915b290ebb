"""No process of an executor job outlives its step: DPDispatcher's Shell batch on this machine.

A job whose processes start here (``Executor.runs_here``) carries the step's markers; what
still runs when the step ends, times out or is stopped is killed. A job on another host (an
SSHContext, here against a real sshd on 127.0.0.1) never receives those markers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

import pytest
from dflow import InputParameter, OutputArtifact, ShellOPTemplate, Step, Workflow, config
from dflow.python import PythonOPTemplate
from dflow.testing.slurm_fixtures import local_slurm  # noqa: F401 - a fixture
from fault_helpers import HERE, kill_all, read_pids, running, tagged
from fault_ops import Spawn

pytest.importorskip("dflow_executor_dispatcher")
from dflow_engine_local.procs import RUN_ENV, STEP_ENV
from dflow_executor_dispatcher import DispatcherExecutor

LEAVE = """
sleep 300 & echo $! >> {pids}
(setsid sleep 301 & echo $! >> {pids})
{end}
"""


@pytest.fixture
def shell(workdir, tmp_path, monkeypatch):
    """A DPDispatcher Shell executor staging under the test's tmp_path (a LocalContext)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # dpdispatcher's records go there
    ex = DispatcherExecutor(machine_dict={"batch_type": "Shell"})
    ex.check_interval = 0.2
    ex.stage_root = str(tmp_path)
    return ex


def _step(workdir, ex, end="echo end", name="job", **kw):
    pids = workdir / f"{name}-pids"
    t = ShellOPTemplate(name=name, script=LEAVE.format(pids=pids, end=end))
    return Step(name, t, executor=ex, **kw), pids


def _log(workdir, name):
    [log] = workdir.glob(f"*/*-{name}-*/log.txt")
    return log.read_text()


def test_shell_job_leftovers_die_when_the_step_ends(workdir, shell):
    assert shell.runs_here
    step, pids = _step(workdir, shell)
    wf = Workflow("dp-leftovers")
    wf.add(step)
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    assert len(read_pids(pids)) == 2
    assert running(read_pids(pids), settle=0) == []  # gone when the step ended
    log = _log(workdir, "job")
    assert "[dflow] the job left 2 process(es) running on this machine: killed (SIGTERM)" in log


def test_python_op_job_leftovers_die_when_the_step_ends(workdir, shell):
    """A Python OP sent to the executor (``python -m dflow.runner`` as the job) likewise."""
    pids = workdir / "pids"
    wf = Workflow("dp-op-leftovers")
    wf.add(
        Step(
            "op",
            PythonOPTemplate(Spawn, command=[sys.executable]),
            parameters={"mode": "leave", "pids": str(pids)},
            executor=shell,
        )
    )
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    assert len(read_pids(pids)) == 2
    assert running(read_pids(pids), settle=0) == []
    assert "[dflow] the job left 2 process(es) running on this machine" in _log(workdir, "op")


def test_shell_job_killed_by_the_step_timeout_leaves_nothing(workdir, shell):
    step, pids = _step(workdir, shell, end="sleep 302", timeout=1)
    wf = Workflow("dp-timeout")
    wf.add(step)
    wf.submit()
    [s] = wf.query_step(name="job")
    assert s.phase == "Failed"
    assert "timed out" in s.message and "exceeded the step timeout of 1s" in s.message
    # the script's shell, its foreground sleep and both background ones
    assert re.search(
        r"killed the [34] process\(es\) it left running on this machine \(SIGTERM\)", s.message
    ), s.message
    assert len(read_pids(pids)) == 2
    assert running(read_pids(pids), settle=0) == []


@pytest.mark.parametrize(("how", "done"), [("terminate", "terminated"), ("stop", "stopped")])
def test_terminate_and_stop_kill_a_running_shell_job(workdir, shell, how, done):
    step, pids = _step(workdir, shell, end="sleep 302")
    wf = Workflow(f"dp-{how}")
    wf.add(step)
    wf.submit(wait=False)
    deadline = time.monotonic() + 60
    while len(read_pids(pids)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(read_pids(pids)) == 2
    getattr(wf, how)()
    assert wf.wait(interval=0.05) == "Failed"
    assert running(read_pids(pids), settle=0) == []
    [s] = wf.query_step(name="job")
    assert s.phase == "Failed"
    assert s.message.startswith(f"step 'job': workflow {done}: dpdispatcher task Shell job")
    assert "was cancelled; killed the" in s.message  # not "the workflow was terminated"
    assert "running on this machine: killed (SIGTERM)" in _log(workdir, "job")


ENV_DUMP = "mkdir -p out\nenv > out/env.txt\n"


def _env_step(ex):
    t = ShellOPTemplate(name="env", script=ENV_DUMP)
    t.outputs.artifacts = {"env": OutputArtifact(path="out")}
    return Step("env", t, executor=ex)


def test_markers_reach_a_local_job(workdir, shell):
    wf = Workflow("dp-env-local")
    wf.add(_env_step(shell))
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    [env] = workdir.glob("*/*-env-*/**/env.txt")
    assert f"{STEP_ENV}=" in env.read_text() and f"{RUN_ENV}=" in env.read_text()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    from dflow.testing.slurm import LocalSshd

    with LocalSshd(env={"HOME": str(tmp_path_factory.mktemp("ssh-home"))}) as server:
        yield server


def test_a_job_on_a_remote_host_gets_no_local_marker(workdir, tmp_path, sshd, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    remote = tmp_path / "remote"
    ex = DispatcherExecutor(
        host=sshd.host,
        port=sshd.port,
        username=sshd.user,
        private_key_file=sshd.key_file,
        remote_root=str(remote),
        machine_dict={"batch_type": "Shell"},
        clean=False,
    )
    ex.check_interval = 0.2
    ex.stage_root = str(tmp_path)
    assert not ex.runs_here
    wf = Workflow("dp-env-remote")
    wf.add(_env_step(ex))
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    [env] = workdir.glob("*/*-env-*/**/env.txt")
    assert "DFLOW_POD=" in env.read_text()  # the job's own environment did arrive
    written = [p for p in remote.rglob("*") if p.is_file()]
    assert any(p.name == ".dflow-task.sh" for p in written)
    for path in [env, *written]:
        text = path.read_text(errors="replace")
        assert RUN_ENV not in text and STEP_ENV not in text, path


RESUME = """
import sys
sys.path.insert(0, {here!r})
from dflow import ShellOPTemplate, Step, Workflow, config
config["mode"] = "local"
config["debug_workdir"] = {workdir!r}
# the executor
# the first copy sleeps long enough to be caught running, the second one not; a copy whose
# sleep is killed stops there (scancel signals the job's processes one by one: the shell
# may outlive its sleep for a moment)
script = (
    "echo >> {out}.started; [ $(wc -l < {out}.started) = 1 ] && {{ sleep 60 || exit 1; }}; "
    "echo ran >> {out}"
)
wf = Workflow("dp-resume", id="dp-resume-1")
wf.add(Step("long", ShellOPTemplate(name="long", script=script), executor=ex))
wf.submit()
print("PHASE", wf.query_status())
"""


SHELL_JOBS = """
from dflow_executor_dispatcher import DispatcherExecutor
ex = DispatcherExecutor(machine_dict={{"batch_type": "Shell"}})
ex.check_interval = 0.2
ex.stage_root = {workdir!r}
"""
SLURM_JOBS = """
from dflow_executor_slurm import SlurmJobTemplate
ex = SlurmJobTemplate()
ex.poll_interval = 0.2
"""


@pytest.mark.parametrize("jobs", ["Shell", "Slurm"])
def test_a_resumed_run_first_kills_the_job_the_crashed_run_left(tmp_path, jobs, request):
    """The runner dies while its job sleeps; the resumed run ends that job (kills its processes
    here, or scancels it) before running the step again: the step completes exactly once."""
    if jobs == "Slurm":
        request.getfixturevalue("local_slurm")  # SLURM_CONF is in the environment
    out = str(tmp_path / "count")
    script = tmp_path / "run.py"
    prelude = (SHELL_JOBS if jobs == "Shell" else SLURM_JOBS).format(workdir=str(tmp_path))
    text = RESUME.format(here=str(HERE), workdir=str(tmp_path), out=out)
    script.write_text(text.replace("# the executor\n", prelude))
    tag = uuid.uuid4().hex
    (tmp_path / "home").mkdir()  # batch scripts may run login shells: no dotfiles
    env = {**os.environ, "FAULT_TAG": tag, "HOME": str(tmp_path / "home")}
    first = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not os.path.exists(out + ".started"):
        time.sleep(0.02)
    first.kill()
    first.wait()
    try:
        left = tagged(tag)
        assert left or jobs == "Slurm", "the job's processes outlived the runner"
        again = subprocess.run(
            [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert "PHASE Succeeded" in again.stdout, again.stdout + again.stderr
        assert open(out + ".started").read().count("\n") == 2  # started twice
        assert open(out).read().split() == ["ran"]  # the second copy ran
        if jobs == "Slurm":  # the first copy was scancelled
            [log] = tmp_path.glob("dp-resume-1/*-long-*/log.txt")
            first_id = re.search(r"submitted Slurm job (\d+) ", log.read_text()).group(1)
            assert f"cancelled Slurm job {first_id}, left by an earlier run" in log.read_text()
            record = request.getfixturevalue("local_slurm").job_record(first_id, "CANCELLED")
            assert "JobState=CANCELLED" in record, record
        assert running(left, settle=0) == []  # killed, not left sleeping
        assert running(tagged(tag)) == []
    finally:
        kill_all(tagged(tag))


@pytest.mark.usefixtures("local_slurm")
@pytest.mark.parametrize("kind", ["SlurmJobTemplate", "DispatcherExecutor"])
def test_a_slurm_job_gets_no_local_marker(workdir, tmp_path, monkeypatch, kind):
    """Slurm owns its jobs' processes (scancel ends them): they never carry our markers."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if kind == "SlurmJobTemplate":
        from dflow_executor_slurm import SlurmJobTemplate

        ex = SlurmJobTemplate()
        ex.poll_interval = 0.2
    else:
        ex = DispatcherExecutor(clean=False)  # batch_type Slurm, LocalContext
        ex.check_interval = 0.2
        ex.stage_root = str(tmp_path)
    assert not ex.runs_here
    wf = Workflow("slurm-env")
    wf.add(_env_step(ex))
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    [env] = workdir.glob("*/*-env-*/**/env.txt")
    assert "SLURM_JOB_ID=" in env.read_text()  # it did run as a Slurm job
    scripts = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".sh", ".sub")]
    assert scripts
    for path in [env, *scripts]:
        text = path.read_text(errors="replace")
        assert RUN_ENV not in text and STEP_ENV not in text, path


def test_failfast_fan_out_of_shell_jobs_kills_the_jobs_in_flight(workdir, shell):
    pids = workdir / "pids"
    body = LEAVE.format(pids=pids, end="sleep 302").strip().replace("\n", "; ")
    script = f"""
case "{{{{inputs.parameters.mode}}}}" in
  fail) while [ "$(cat {pids} 2>/dev/null | wc -l)" -lt 4 ]; do sleep 0.02; done; exit 3 ;;
  *) {body} ;;
esac
"""
    t = ShellOPTemplate(name="item", script=script)
    t.inputs.parameters = {"mode": InputParameter()}
    wf = Workflow("dp-failfast")
    wf.add(
        Step(
            "fan",
            t,
            parameters={"mode": "{{item}}"},
            with_param=["hang", "fail", "hang"],
            executor=shell,
        )
    )
    config["debug_failfast"] = True
    config["debug_pool_workers"] = 3  # every item runs at once
    wf.submit()
    assert wf.query_status() == "Failed"
    assert "first: step 'fan(1:fail)'" in wf.query().status.message
    assert len(read_pids(pids)) == 4
    assert running(read_pids(pids), settle=0) == []
    for name in ("fan(0:hang)", "fan(2:hang)"):
        [s] = [s for s in wf.query_step(type="Pod") if s.displayName == name]
        assert s.phase == "Failed" and "debug_failfast" in s.message

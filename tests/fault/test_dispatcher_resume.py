"""A DPDispatcher job in a scheduler batch survives a killed run: the resumed run adopts it.

The runner of a workflow is SIGKILLed while its DPDispatcher/Slurm step's job waits on a gate
file (the real local Slurm runs it). The resumed run must not submit the step a second time:
it adopts the job the killed run submitted (still running, or finished meanwhile) and collects
its output. A job cancelled behind dflow's back while no runner watched it never finished, so
the resumed run submits it again (the work has not been done; running it is no duplicate).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from dflow.testing.slurm_fixtures import (  # noqa: F401 - fixtures
    job_home,
    local_slurm,
    slurm_sshd,
)

pytest.importorskip("dflow_executor_dispatcher")

pytestmark = pytest.mark.slurm


@pytest.fixture
def slurm(request):
    """The local Slurm (``SLURM_CONF`` is in the environment the runners inherit)."""
    return request.getfixturevalue("local_slurm")


RUN = """
from dflow import OutputParameter, ShellOPTemplate, Step, Workflow, config
from dflow_executor_dispatcher import DispatcherExecutor
config["mode"] = "local"
config["debug_workdir"] = {workdir!r}
import json, os
from dflow_executor_dispatcher import recovery
recovery.LEFTOVER_WAIT = float(os.environ.get("RUN_LEFTOVER_WAIT", recovery.LEFTOVER_WAIT))
# batch_type Slurm, a LocalContext (or an SSHContext with the keywords of RUN_SSH);
# RUN_VARIANT changes the submission between runs; RUN_PREPEND: lines atop the batch script
ex = DispatcherExecutor(
    resources_dict={{
        "envs": {{"VARIANT": os.environ["RUN_VARIANT"]}},
        "prepend_script": json.loads(os.environ.get("RUN_PREPEND", "[]")),
    }},
    **json.loads(os.environ.get("RUN_SSH", "{{}}")),
)
ex.check_interval = 0.2
# each copy of the job says it started, waits for the gate, then counts its run
script = (
    "echo $SLURM_JOB_ID >> {base}.started\\n"
    "while [ ! -e {base}.gate ]; do sleep 0.1; done\\n"
    "echo ran >> {base}.count\\n"
    "echo done > /tmp/answer.txt\\n"
)
t = ShellOPTemplate(name="gated", script=script)
t.outputs.parameters["answer"] = OutputParameter(value_from_path="/tmp/answer.txt")
wf = Workflow("dp-adopt", id="dp-adopt-1")
wf.add(Step("gated", t, executor=ex))
wf.submit()
step = wf.query_step(name="gated")[0]
print("PHASE", wf.query_status(), "ANSWER", step.outputs.parameters["answer"].value)
"""


def _wait_for(what, check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


class _Case:
    """The run script of one test, its files and the runner's environment."""

    def __init__(self, tmp_path: Path) -> None:
        self.base = tmp_path / "job"
        self.started = Path(f"{self.base}.started")
        self.count = Path(f"{self.base}.count")
        self.gate = Path(f"{self.base}.gate")
        self.script = tmp_path / "run.py"
        self.script.write_text(RUN.format(workdir=str(tmp_path), base=str(self.base)))
        (tmp_path / "home").mkdir()  # batch scripts may run login shells: no dotfiles
        self.env = {**os.environ, "HOME": str(tmp_path / "home"), "RUN_VARIANT": "a"}
        self.cwd = tmp_path
        self.workdir = tmp_path

    def over_ssh(self, sshd) -> None:
        """Reach the same Slurm through the test's sshd (an SSHContext, remote root
        ``<tmp>/remote``)."""
        ssh = {
            "host": sshd.host,
            "port": sshd.port,
            "username": sshd.user,
            "private_key_file": sshd.key_file,
            "remote_root": str(self.workdir / "remote"),
        }
        self.env["RUN_SSH"] = json.dumps(ssh)

    def start(self) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(self.script)],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def crash_while_running(self, noted: bool = False) -> str:
        """Start a run, SIGKILL it once its job runs (``noted``: and the step's log names the
        job: the runner notes an id within 0.1 s of DPDispatcher getting it, but under load
        the job may start first); return the Slurm job id."""
        first = self.start()
        _wait_for("the job to start", lambda: _lines(self.started))
        if noted:
            job = _lines(self.started)[0]
            _wait_for(f"the log to name job {job}", lambda: f" job {job} (" in self.log())
        first.kill()
        first.communicate()
        return _lines(self.started)[0]

    def resume(self) -> str:
        again = subprocess.run(
            [sys.executable, str(self.script)],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return again.stdout + again.stderr

    def log(self) -> str:
        """The step's log ("" before there is one: a run killed before its first note)."""
        logs = list(self.workdir.glob("dp-adopt-1/*-gated-*/log.txt"))
        assert len(logs) <= 1, logs
        return logs[0].read_text() if logs else ""

    def stages(self) -> list[Path]:
        return list(self.workdir.glob("dp-adopt-1/*-gated-*/dflow-dispatcher-*"))


def _drop_record(tmp_path: Path, remote: str) -> None:
    """Remove DPDispatcher's record of the submission under ``remote``, to stand for the
    instant before it was written. A runner killed just after its job started may not have
    written it yet (over SSH it is an upload): then the state already is that instant."""
    records = [p for p in tmp_path.glob(f"{remote}/*/*.json") if p.stem == p.parent.name]
    assert len(records) <= 1, records
    for record in records:
        record.unlink()


def _cancelled(slurm, job_id: str) -> tuple[bool, str]:
    """Whether ``job_id`` ended CANCELLED (waiting up to 60 s), and its state, reason, exit
    code and times for the failure message (pytest cuts the whole record short)."""
    record = slurm.job_record(job_id, "CANCELLED")
    fields = ("JobState", "Reason", "ExitCode", "RunTime", "SubmitTime", "StartTime", "EndTime")
    shown = " ".join(m.group(0) for f in fields if (m := re.search(rf"\b{f}=\S*", record)))
    return "JobState=CANCELLED" in record, f"job {job_id}: {shown}"


def _queue(slurm) -> list[str]:
    return slurm.run("squeue", "-h", "-o", "%i").stdout.split()


@pytest.fixture(autouse=True)
def _no_job_left(slurm):
    """A test that fails while its job waits on its gate must not leave the job behind: on
    this one-node cluster every later test's job would queue behind it."""
    yield
    left = _queue(slurm)
    if left:
        slurm.run("scancel", *left)
        _wait_for("the jobs a test left to end", lambda: not _queue(slurm), timeout=120)


@pytest.mark.parametrize("context", ["LocalContext", "SSHContext"])
def test_a_resumed_run_adopts_the_running_job(tmp_path, slurm, context, request):
    """The job still runs when the run resumes: it is waited for, not submitted again."""
    case = _Case(tmp_path)
    if context == "SSHContext":
        case.over_ssh(request.getfixturevalue("slurm_sshd"))
    job_id = case.crash_while_running()
    assert job_id in _queue(slurm)  # the killed runner left its job running
    resumed = case.start()
    try:
        # a second copy would be submitted after this, and found out by its run at the end
        _wait_for("the adoption", lambda: f"adopted Slurm job {job_id}" in case.log())
        case.gate.touch()
        out, _ = resumed.communicate(timeout=300)
    finally:
        resumed.kill()
    assert "PHASE Succeeded ANSWER done" in out, out + case.log()
    assert _lines(case.started) == [job_id]  # one Slurm job, started once
    assert _lines(case.count) == ["ran"]  # the work ran exactly once
    assert f"adopted Slurm job {job_id}" in case.log()
    assert f"via {context}" in case.log()
    assert _queue(slurm) == []
    assert case.stages() == []  # the submission's stage is cleaned after the step


def test_a_job_that_finished_while_no_runner_watched_is_collected(tmp_path, slurm):
    """The job ended while the runner was dead: its output is collected, nothing resubmitted."""
    case = _Case(tmp_path)
    job_id = case.crash_while_running()
    case.gate.touch()
    _wait_for("the job to end", lambda: _lines(case.count) and job_id not in _queue(slurm))
    out = case.resume()
    assert "PHASE Succeeded ANSWER done" in out, out + case.log()
    assert _lines(case.started) == [job_id]
    assert _lines(case.count) == ["ran"]
    assert f"adopted Slurm job {job_id}" in case.log()
    assert _queue(slurm) == []


def test_a_job_cancelled_while_no_runner_watched_is_submitted_again(tmp_path, slurm):
    """Someone scancelled the job after the crash: it never finished, so the resumed run
    submits the step again (once), and the log says why."""
    case = _Case(tmp_path)
    job_id = case.crash_while_running()
    slurm.run("scancel", job_id)
    cancelled, state = _cancelled(slurm, job_id)
    assert cancelled, state
    case.gate.touch()
    out = case.resume()
    assert "PHASE Succeeded ANSWER done" in out, out + case.log()
    started = _lines(case.started)
    assert len(started) == 2 and started[0] == job_id and started[1] != job_id, started
    assert _lines(case.count) == ["ran"]  # the cancelled copy never got past the gate
    log = case.log()
    assert re.search(rf"Slurm job {job_id}, .*ended without finishing.* submitting it again", log)
    assert _queue(slurm) == []


def test_a_job_of_a_submission_that_changed_is_cancelled_before_the_new_one(tmp_path, slurm):
    """The executor's settings changed before the resume, so its submission is another one
    (DPDispatcher cannot recover it): the job the killed run noted in the step's log is
    cancelled before the step is submitted again, so the two never run at once."""
    case = _Case(tmp_path)
    job_id = case.crash_while_running(noted=True)
    _resume_changed(case, slurm, job_id)


def _resume_changed(case: _Case, slurm, job_id: str) -> None:
    """Resume with changed settings: ``job_id`` is cancelled before the step's new copy is
    submitted, and only the new copy does the work."""
    case.env["RUN_VARIANT"] = "b"
    resumed = case.start()
    try:
        _wait_for("the second job to start", lambda: len(_lines(case.started)) == 2)
        # scancel was sent before the second submission (the job may still be COMPLETING)
        cancelled, state = _cancelled(slurm, job_id)
        assert cancelled, state + "\n" + case.log()
        case.gate.touch()
        out, _ = resumed.communicate(timeout=300)
    finally:
        resumed.kill()
    assert "PHASE Succeeded ANSWER done" in out, out + case.log()
    assert _lines(case.count) == ["ran"]  # only the second copy got past the gate
    assert f"cancelled Slurm job {job_id}, left by an earlier run" in case.log()
    assert _queue(slurm) == []


@pytest.mark.parametrize("context", ["LocalContext", "SSHContext"])
def test_a_job_of_a_changed_submission_the_log_never_named_is_cancelled(
    tmp_path, slurm, context, request
):
    """The runner died between ``sbatch`` and both the note of the job in the step's log and
    DPDispatcher's record (the note and the record are removed here to stand for that
    instant), and the executor's settings changed before the resume: the job is found by
    the id file of the submission the attempt recorded before submitting, and cancelled
    before the new copy is submitted."""
    case = _Case(tmp_path)
    remote = "dp-adopt-1/*-gated-*/dflow-dispatcher-*/attempt-*/remote"
    if context == "SSHContext":
        case.over_ssh(request.getfixturevalue("slurm_sshd"))
        remote = "remote"
    job_id = case.crash_while_running(noted=True)
    [log] = tmp_path.glob("dp-adopt-1/*-gated-*/log.txt")
    noted = f"[dflow] submitted Slurm job {job_id} (dpdispatcher)\n"
    assert noted in log.read_text()
    log.write_text(log.read_text().replace(noted, ""))
    _drop_record(tmp_path, remote)
    _resume_changed(case, slurm, job_id)
    assert f"via {context}" in case.log()


# atop a batch script: the job notes its start; cancelled, it keeps running (and noting)
# for about 3 s, as a job that saves its state on SIGTERM does (Slurm's KillWait, 2 s here,
# ends it sooner). Only builtins: under load a fork per note could let KillWait pass first.
LINGERING = [
    "echo start $SLURM_JOB_ID $EPOCHREALTIME >> {times}",
    "trap 'for i in {{1..30}}; do echo alive $SLURM_JOB_ID $EPOCHREALTIME >> {times}; "
    "sleep 0.1; done; exit 143' TERM",
]


@pytest.fixture
def times_file(tmp_path):
    """Where the lingering jobs note their times: on tmpfs when there is one, since a note
    held up by the disk's writeback for KillWait's 2 s would be no note at all."""
    shm = Path("/dev/shm")
    where = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    yield where / "jobs.times"
    if where != tmp_path:
        shutil.rmtree(where)


def _times(path: Path) -> dict[str, list[float]]:
    """Each job's own timestamps (its start first) from its notes in ``path``."""
    times: dict[str, list[float]] = {}
    for line in path.read_text().splitlines():
        _what, job_id, stamp = line.split()
        times.setdefault(job_id, []).append(float(stamp))
    return times


def test_a_cancelled_job_that_lingers_has_ended_before_the_new_copy_starts(
    tmp_path, slurm, times_file
):
    """The killed run's job traps SIGTERM in its batch script and goes on for a few seconds
    when the resumed run (whose submission changed) cancels it: the new copy is submitted
    only once it has ended (so it cannot start beside it on another node; this one-node
    cluster itself starts no job on a node while another one is completing there)."""
    case = _Case(tmp_path)
    case.env["RUN_PREPEND"] = json.dumps([line.format(times=times_file) for line in LINGERING])
    job_id = case.crash_while_running(noted=True)
    case.env["RUN_VARIANT"] = "b"
    resumed = case.start()
    try:
        _wait_for("the second job to start", lambda: len(_lines(case.started)) == 2)
        case.gate.touch()
        out, _ = resumed.communicate(timeout=300)
    finally:
        resumed.kill()
    assert "PHASE Succeeded ANSWER done" in out, out + case.log()
    times = _times(times_file)
    [new_id] = [i for i in times if i != job_id]
    assert len(times[job_id]) > 1  # the cancelled job did linger
    assert max(times[job_id]) < times[new_id][0], times  # and had ended when the new began
    # ... and when the new one was submitted (the scheduler's SubmitTime is in whole seconds)
    record = slurm.job_record(new_id)
    submitted = re.search(r"SubmitTime=(\S+)", record).group(1)
    assert int(max(times[job_id])) <= time.mktime(time.strptime(submitted, "%Y-%m-%dT%H:%M:%S"))
    assert _lines(case.count) == ["ran"]
    assert f"cancelled Slurm job {job_id}, left by an earlier run" in case.log()
    assert _queue(slurm) == []


def test_a_step_whose_cancelled_job_does_not_end_fails_without_a_second_copy(
    tmp_path, slurm, times_file
):
    """The wait for the cancelled job is bounded (here shorter than the job lingers): past it,
    the step fails, saying which job is still there, and submits no second copy."""
    case = _Case(tmp_path)
    case.env["RUN_PREPEND"] = json.dumps([line.format(times=times_file) for line in LINGERING])
    job_id = case.crash_while_running(noted=True)
    case.env.update(RUN_VARIANT="b", RUN_LEFTOVER_WAIT="0.5")
    out = case.resume()
    assert "PHASE Succeeded" not in out, out
    assert (
        f"[dflow] DispatcherExecutor: Slurm job {job_id}, left by an earlier run of this step, "
        "was cancelled but is still completing 0.5 s later: the step was not submitted again, "
        "so that it does not run twice at once; resume the workflow once that job has ended"
    ) in case.log()
    assert _lines(case.started) == [job_id]  # no second copy
    assert _lines(case.count) == []
    _wait_for("the cancelled job to end", lambda: job_id not in _queue(slurm))


def test_a_cancelled_job_that_does_not_end_is_a_clear_error(tmp_path, slurm, times_file):
    """The wait for a cancelled job is bounded: past it, the error names the job."""
    from dflow_executor_dispatcher import quiet, recovery

    dp = quiet.dpdispatcher()
    (tmp_path / "home").mkdir()
    script = tmp_path / "job.sh"
    lines = ["#!/bin/bash", *LINGERING, "sleep 60", ""]
    script.write_text("\n".join(lines).format(times=times_file))
    job_id = slurm.run("sbatch", "--parsable", "-o", "/dev/null", str(script)).stdout.strip()
    _wait_for("the job to start", times_file.exists)
    machine = dp.Machine.load_from_dict(
        {
            "batch_type": "Slurm",
            "context_type": "LocalContext",
            "local_root": str(tmp_path),
            "remote_root": str(tmp_path / "remote"),
        }
    )
    submission = dp.Submission(
        work_base=str(tmp_path),
        machine=machine,
        resources=dp.Resources.load_from_dict(
            {"number_node": 1, "cpu_per_node": 1, "group_size": 1}
        ),
    )
    with pytest.raises(recovery.LeftoverRunning) as info:
        recovery.cancel(dp, submission, job_id, wait=0.5)
    assert str(info.value) == (
        f"Slurm job {job_id}, left by an earlier run of this step, was cancelled but is "
        "still completing 0.5 s later"
    )
    recovery.cancel(dp, submission, job_id)  # ends within the usual wait
    assert _queue(slurm) == []


FAN_OUT = """
from dflow import InputParameter, ShellOPTemplate, Step, Workflow, config
from dflow_executor_dispatcher import DispatcherExecutor
config["mode"] = "local"
config["debug_workdir"] = "WORKDIR"
# the items' jobs go as one submission of one Slurm job per item
ex = DispatcherExecutor(merge_sliced_step=True, resources_dict={"group_size": 1})
ex.check_interval = 0.2
script = (
    "echo $SLURM_JOB_ID >> BASE.started\\n"
    "while [ ! -e BASE.gate ]; do sleep 0.1; done\\n"
    "echo ran-{{inputs.parameters.item}} >> BASE.count\\n"
)
t = ShellOPTemplate(name="gated", script=script)
t.inputs.parameters = {"item": InputParameter()}
wf = Workflow("dp-adopt", id="dp-adopt-1")
wf.add(Step("gated", t, parameters={"item": "{{item}}"}, with_param=[0, 1], executor=ex))
wf.submit()
print("PHASE", wf.query_status())
"""


def test_a_merged_fan_out_adopts_its_jobs(tmp_path, slurm):
    """The items of a merged fan-out went as one submission: the resumed run, which batches
    them again (in whatever order they arrive), adopts both jobs."""
    case = _Case(tmp_path)

    def _logs() -> str:
        return "".join(p.read_text() for p in tmp_path.glob("dp-adopt-1/*-gated-*/log.txt"))

    case.script.write_text(
        FAN_OUT.replace("WORKDIR", str(tmp_path)).replace("BASE", str(case.base))
    )
    first = case.start()
    _wait_for("both jobs", lambda: _lines(case.started) and len(_queue(slurm)) == 2)
    submitted = sorted(_queue(slurm))
    first.kill()
    first.communicate()
    resumed = case.start()
    try:
        # second copies would be submitted after this, and found out by their runs at the end
        _wait_for(
            "the adoptions", lambda: all(f"adopted Slurm job {i}" in _logs() for i in submitted)
        )
        assert sorted(_queue(slurm)) == submitted
        case.gate.touch()
        out, _ = resumed.communicate(timeout=300)
    finally:
        resumed.kill()
    assert "PHASE Succeeded" in out, out
    assert sorted(_lines(case.started)) == submitted  # the two first jobs, each started once
    assert sorted(_lines(case.count)) == ["ran-0", "ran-1"]
    logs = _logs()
    assert all(f"adopted Slurm job {job_id}" in logs for job_id in submitted), logs
    assert _queue(slurm) == []


def test_a_job_submitted_just_before_the_crash_is_adopted_by_its_id_file(tmp_path, slurm):
    """The runner died between ``sbatch`` and DPDispatcher's record of the submission (the
    record is removed here to stand for that instant): the job's id file, which DPDispatcher
    writes as soon as the scheduler answers, is enough to adopt it."""
    case = _Case(tmp_path)
    job_id = case.crash_while_running()
    _drop_record(tmp_path, "dp-adopt-1/*-gated-*/dflow-dispatcher-*/attempt-*/remote")
    case.gate.touch()
    out = case.resume()
    assert "PHASE Succeeded ANSWER done" in out, out + case.log()
    assert _lines(case.started) == [job_id]
    assert _lines(case.count) == ["ran"]
    assert f"adopted Slurm job {job_id}" in case.log()
    assert _queue(slurm) == []


@pytest.mark.parametrize("context", ["LocalContext", "SSHContext"])
def test_a_job_whose_id_was_never_written_is_found_in_the_queue(tmp_path, slurm, context, request):
    """The runner died right after ``sbatch`` answered: neither DPDispatcher's record nor
    its job id file exists (both are removed here to stand for that instant; over SSH the id
    file is an upload after the answer). Slurm still knows the job by its batch script:
    the resumed run adopts it instead of running the step a second time."""
    case = _Case(tmp_path)
    remote = "dp-adopt-1/*-gated-*/dflow-dispatcher-*/attempt-*/remote"
    if context == "SSHContext":
        case.over_ssh(request.getfixturevalue("slurm_sshd"))
        remote = "remote"
    job_id = case.crash_while_running()
    _drop_record(tmp_path, remote)
    id_files = list(tmp_path.glob(f"{remote}/*/*_job_id"))
    assert len(id_files) <= 1, id_files
    for id_file in id_files:
        id_file.unlink()
    case.gate.touch()
    out = case.resume()
    assert "PHASE Succeeded ANSWER done" in out, out + case.log()
    assert _lines(case.started) == [job_id]  # no second copy was submitted
    assert _lines(case.count) == ["ran"]
    assert f"adopted Slurm job {job_id}" in case.log()
    assert _queue(slurm) == []

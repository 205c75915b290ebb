"""DispatcherExecutor against the real local Slurm (and the Shell batch type)."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from dflow_executor_dispatcher import DispatcherExecutor

pytestmark = pytest.mark.slurm

FAIL = "import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)\n"
SLEEP = "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n"


def executor(**kwargs: object) -> DispatcherExecutor:
    ex = DispatcherExecutor(**kwargs)
    ex.check_interval = 0.3
    return ex


@pytest.mark.parametrize("batch_type", ["Slurm", "Shell"])
def test_run_one_step(local_slurm, make_job, batch_type):
    job = make_job()
    result = executor(machine_dict={"batch_type": batch_type}).run(job)

    assert result.exit_code == 0, result.message
    assert (job.workdir / "out" / "result.txt").read_text() == "PAYLOAD OF STEP"
    log = job.log_path.read_text()
    assert f"{batch_type} job {result.job_id} via LocalContext" in log
    assert "hello hi step" in log and "to stderr" in log
    # nothing of dpdispatcher's staging is left in the step's work directory
    assert sorted(p.name for p in job.workdir.iterdir()) == ["input.txt", "out"]


def test_slurm_job_id_is_a_real_slurm_job(local_slurm, make_job):
    job = make_job()
    result = executor().run(job)

    assert "JobState=COMPLETED" in local_slurm.job_record(result.job_id, "COMPLETED")


@pytest.mark.parametrize(("retries", "attempts"), [(None, 1), (1, 2)])
def test_failure_reports_exit_code_and_follows_retry_setting(
    local_slurm, make_job, retries, attempts
):
    job = make_job(script=FAIL)
    result = executor(retry_on_submission_error=retries).run(job)

    assert result.exit_code == 3
    assert f"failed {attempts} times" in result.message
    log = job.log_path.read_text()
    assert "boom" in log
    assert len(re.findall(r"was submitted; job_id is|re-submit after terminated", log)) == attempts


def test_missing_output_is_a_failure(local_slurm, make_job):
    job = make_job(script="print('no outputs')\n")
    result = executor(machine_dict={"batch_type": "Shell"}).run(job)

    assert result.exit_code == 1
    assert "did not produce: out" in result.message


def test_run_batch_groups_tasks_into_fewer_slurm_jobs(local_slurm, make_job):
    jobs = [make_job(f"item-{i}") for i in range(10)]
    results = executor(resources_dict={"group_size": 5}, merge_sliced_step=True).run_batch(jobs)

    assert [r.exit_code for r in results] == [0] * 10, [r.message for r in results]
    for i, job in enumerate(jobs):
        assert (job.workdir / "out" / "result.txt").read_text() == f"PAYLOAD OF ITEM-{i}"
        assert f"hello hi item-{i}" in job.log_path.read_text()
    assert len({r.job_id for r in results}) == 2


def test_run_batch_reports_each_failure(local_slurm, make_job):
    jobs = [make_job("ok-1"), make_job("bad", script=FAIL), make_job("ok-2")]
    results = executor().run_batch(jobs)

    assert [r.exit_code for r in results] == [0, 3, 0]
    assert (jobs[0].workdir / "out" / "result.txt").exists()
    assert (jobs[2].workdir / "out" / "result.txt").exists()
    assert not (jobs[1].workdir / "out").exists()
    assert "boom" in jobs[1].log_path.read_text()


def test_cancel_stops_the_slurm_job(local_slurm, make_job):
    job = make_job(script=SLEEP)
    results = []
    thread = threading.Thread(target=lambda: results.append(executor().run(job)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while "R" not in local_slurm.run("squeue", "-h", "-o", "%t", "-n", "step").stdout.split():
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.1)
    (job_id,) = local_slurm.run("squeue", "-h", "-o", "%i", "-n", "step").stdout.split()
    job.cancelled.set()
    thread.join(60)  # bounds a hang; the job itself sleeps 120 s

    assert not thread.is_alive()
    (result,) = results
    assert result.exit_code == 143 and "cancelled" in result.message
    assert result.job_id == job_id
    assert "JobState=CANCELLED" in local_slurm.job_record(job_id, "CANCELLED")


def test_step_timeout(local_slurm, make_job):
    job = make_job(script=SLEEP, timeout=1.0)
    result = executor(machine_dict={"batch_type": "Shell"}).run(job)

    assert result.timed_out and "exceeded the step timeout of 1s" in result.message


def test_ssh_context_over_the_test_sshd(local_slurm, slurm_sshd, make_job, tmp_path):
    secret = "s3cret-Passw0rd"
    job = make_job()
    ex = executor(
        host=slurm_sshd.host,
        port=slurm_sshd.port,
        username=slurm_sshd.user,
        private_key_file=slurm_sshd.key_file,
        password=secret,
        remote_root=str(tmp_path / "remote"),
        clean=False,
    )
    ex.stage_root = str(tmp_path)
    result = ex.run(job)

    assert result.exit_code == 0, result.message
    assert (job.workdir / "out" / "result.txt").read_text() == "PAYLOAD OF STEP"
    assert "Slurm job" in job.log_path.read_text() and "via SSHContext" in job.log_path.read_text()
    written = [p for p in (tmp_path / "remote").rglob("*") if p.is_file()]
    assert written, "clean=False keeps the remote files"
    for path in [*written, job.log_path]:
        assert secret not in path.read_text(errors="replace"), path


@pytest.mark.parametrize("clean", [True, False])
def test_a_step_run_again_is_a_new_submission(local_slurm, make_job, clean):
    """A step that ended (failed here) leaves nothing to adopt: running it again (a retry, a
    rerun) submits a new Slurm job instead of recovering the ended one."""
    job = make_job(script=FAIL)
    ex = executor(clean=clean)
    first = ex.run(job)
    second = ex.run(job)

    assert first.exit_code == second.exit_code == 3
    assert first.job_id != second.job_id, (first, second)
    assert "adopted" not in job.log_path.read_text()
    stages = list(job.log_path.parent.glob("dflow-dispatcher-*"))
    if clean:  # the stage (beside the step's log) is removed with the submission
        assert stages == []
    else:  # each attempt's files are kept apart; none is left in flight
        [stage] = stages
        assert len(list(stage.glob("attempt-*"))) == 2
        assert not (stage / "in-flight").exists()


def test_an_unreachable_ssh_host_is_named_in_the_error(make_job):
    """An SSH machine that refuses the connection: the step fails saying which address could
    not be reached (not "invalid settings"), and nothing is submitted."""
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    job = make_job()
    result = executor(host="127.0.0.1", port=port, username="someone", password="x").run(job)

    assert result.exit_code == 1
    assert f"cannot connect to someone@127.0.0.1:{port} over SSH" in result.message
    assert "Connection refused" in result.message
    assert "check the host, port and credentials" in job.log_path.read_text()


def test_invalid_settings_say_so(make_job):
    job = make_job()
    result = executor(machine_dict={"batch_type": "NoSuchBatch"}).run(job)

    assert result.exit_code == 1
    assert "DispatcherExecutor: invalid machine/resources settings" in result.message
    assert "NoSuchBatch" in result.message

"""SlurmJobTemplate.run against the real local Slurm."""

from __future__ import annotations

import threading
import time

import pytest
from dflow.executor import JobResult
from dflow_executor_slurm import SlurmJobTemplate

pytestmark = pytest.mark.slurm

SLEEPER = "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n"


def wait_running(local_slurm, job_id: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if "JobState=RUNNING" in local_slurm.run("scontrol", "-o", "show", "job", job_id).stdout:
            return
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never ran")


def run_in_thread(executor, job) -> tuple[threading.Thread, list[JobResult]]:
    results: list[JobResult] = []
    thread = threading.Thread(target=lambda: results.append(executor.run(job)), daemon=True)
    thread.start()
    return thread, results


def test_success_brings_outputs_and_logs_job_id(local_slurm, make_job):
    job = make_job()
    result = SlurmJobTemplate(header="#!/bin/bash\n#SBATCH --nodes=1").run(job)

    assert result.exit_code == 0, result.message
    assert result.job_id and result.job_id.isdigit()
    assert "COMPLETED" in result.message
    assert (job.workdir / "out" / "result.txt").read_text() == "PAYLOAD OF STEP"
    log = job.log_path.read_text()
    assert f"submitted Slurm job {result.job_id}" in log
    # the step's env reached the job, and both streams landed in the log
    assert f"hello from {result.job_id} hi there" in log
    assert "to stderr" in log


def test_header_directives_reach_sbatch(local_slurm, make_job):
    job = make_job(script="import os\nprint('mem', os.environ['SLURM_MEM_PER_NODE'])\n", outputs=())
    result = SlurmJobTemplate(header="#SBATCH --mem=100").run(job)

    assert result.exit_code == 0, result.message
    assert "mem 100" in job.log_path.read_text()


def test_failing_script_reports_exit_code_and_reason(local_slurm, make_job):
    job = make_job(script="import sys\nprint('boom')\nsys.exit(3)\n")
    result = SlurmJobTemplate().run(job)

    assert result.exit_code == 3
    assert "FAILED" in result.message and "NonZeroExitCode" in result.message
    assert not result.timed_out
    log = job.log_path.read_text()
    assert "boom" in log and result.message in log


def test_scancel_from_outside_is_reported_as_cancelled(local_slurm, make_job, submitted_id):
    job = make_job(script=SLEEPER)
    thread, results = run_in_thread(SlurmJobTemplate(), job)
    job_id = submitted_id(job.log_path)
    wait_running(local_slurm, job_id)
    local_slurm.run("scancel", job_id)
    thread.join(60)  # bounds a hang; the job itself sleeps 120 s

    (result,) = results
    assert result.exit_code != 0
    assert f"Slurm job {job_id} CANCELLED" in result.message
    assert f"JOB {job_id} ON {local_slurm.node} CANCELLED" in job.log_path.read_text()


def test_step_timeout_cancels_the_job(local_slurm, make_job):
    job = make_job(script=SLEEPER, timeout=1.0)
    result = SlurmJobTemplate().run(job)

    assert result.timed_out
    assert "exceeded the step timeout of 1s" in result.message
    assert "JobState=CANCELLED" in local_slurm.job_record(result.job_id, "CANCELLED")


def test_terminated_workflow_cancels_promptly(local_slurm, make_job, submitted_id):
    job = make_job(script=SLEEPER)
    thread, results = run_in_thread(SlurmJobTemplate(), job)
    job_id = submitted_id(job.log_path)
    wait_running(local_slurm, job_id)
    job.cancelled.set()
    thread.join(60)  # bounds a hang; the job itself sleeps 120 s

    assert not thread.is_alive()
    (result,) = results
    assert result.exit_code != 0 and "cancelled" in result.message
    deadline = time.monotonic() + 60
    while (
        "JobState=CANCELLED" not in local_slurm.run("scontrol", "-o", "show", "job", job_id).stdout
    ):
        assert time.monotonic() < deadline, "the Slurm job was not cancelled"
        time.sleep(0.2)


def test_already_cancelled_job_is_not_submitted(local_slurm, make_job):
    job = make_job()
    job.cancelled.set()
    result = SlurmJobTemplate().run(job)

    assert result.exit_code != 0 and result.job_id is None
    assert not job.log_path.exists()


def test_submission_error_is_reported(local_slurm, make_job):
    job = make_job()
    result = SlurmJobTemplate(header="#SBATCH --partition=no-such-partition").run(job)

    assert result.exit_code == 1 and result.job_id is None
    assert "Invalid partition name specified" in result.message
    assert "Invalid partition name specified" in job.log_path.read_text()


def test_render_needs_a_script_template():
    with pytest.raises(TypeError):
        SlurmJobTemplate().render(object())

"""SlurmRemoteExecutor over a real sshd in front of the real local Slurm."""

from __future__ import annotations

import threading

import pytest
from dflow_executor_slurm import SlurmRemoteExecutor

pytestmark = pytest.mark.slurm


@pytest.fixture
def remote(slurm_sshd, tmp_path):
    def make(**kwargs: object) -> SlurmRemoteExecutor:
        args: dict[str, object] = dict(
            host=slurm_sshd.host,
            port=slurm_sshd.port,
            username=slurm_sshd.user,
            private_key_file=slurm_sshd.key_file,
            interval=1,
            workdir=str(tmp_path / "remote" / "{{workflow.name}}" / "{{pod.name}}"),
        )
        args.update(kwargs)
        return SlurmRemoteExecutor(**args)

    return make


def test_remote_job_uploads_runs_and_downloads(remote, make_job, tmp_path):
    job = make_job(command=("python3",))
    result = remote(header="#!/bin/bash\n#SBATCH --nodes=1").run(job)

    assert result.exit_code == 0, result.message
    assert (job.workdir / "out" / "result.txt").read_text() == "PAYLOAD OF STEP"
    log = job.log_path.read_text()
    assert f"submitted Slurm job {result.job_id} on root@127.0.0.1" in log
    assert f"hello from {result.job_id} hi there" in log
    # the remote work directory holds the uploaded input and the workflow/pod names
    (remote_dir,) = (tmp_path / "remote" / "wf-test").iterdir()
    assert remote_dir.name.startswith("step-")
    assert (remote_dir / "input.txt").read_text() == "payload of step"


def test_remote_failure_and_missing_outputs(remote, make_job):
    job = make_job(script="import sys\nsys.exit(5)\n", command=("python3",))
    result = remote().run(job)

    assert result.exit_code == 5
    assert "FAILED" in result.message
    assert "outputs missing on root@127.0.0.1" in job.log_path.read_text()


def test_password_never_written_to_scripts_or_logs(remote, make_job, tmp_path):
    secret = "s3cret-Passw0rd"
    job = make_job(command=("python3",))
    # the key authenticates; the password must still not leak anywhere
    executor = remote(password=secret)
    result = executor.run(job)

    assert result.exit_code == 0, result.message
    assert secret not in repr(executor)
    written = [p for p in (tmp_path / "remote").rglob("*") if p.is_file()]
    assert any(p.name == "job.sh" for p in written)
    for path in [*written, job.log_path]:
        assert secret not in path.read_text(errors="replace"), path


def test_cancel_over_ssh(remote, make_job, local_slurm, submitted_id):
    job = make_job(script="import time\ntime.sleep(120)\n", command=("python3",))
    results = []
    thread = threading.Thread(target=lambda: results.append(remote().run(job)), daemon=True)
    thread.start()
    job_id = submitted_id(job.log_path)
    job.cancelled.set()
    thread.join(60)  # bounds a hang; the job itself sleeps 120 s

    assert results and "cancelled" in results[0].message
    assert local_slurm.run("squeue", "-h", "-j", job_id, check=False).stdout.strip() == "" or (
        "CANCELLED" in local_slurm.run("scontrol", "-o", "show", "job", job_id).stdout
    )


def test_unreachable_host_is_a_clear_failure(make_job, slurm_sshd, tmp_path):
    job = make_job()
    executor = SlurmRemoteExecutor(
        host="127.0.0.1",
        port=slurm_sshd.port,
        username="root",
        private_key_file=str(tmp_path / "no-such-key"),
        action_retries=0,
    )
    result = executor.run(job)

    assert result.exit_code == 1
    assert "cannot connect to root@127.0.0.1" in result.message

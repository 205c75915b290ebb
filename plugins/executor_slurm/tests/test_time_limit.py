"""A job killed by Slurm for exceeding ``#SBATCH --time`` (see the ``time_limited_job`` fixture)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_sbatch_time_limit_gives_timeout(time_limited_job):
    job, thread, results = time_limited_job
    thread.join(150)

    (result,) = results
    assert result.timed_out
    assert f"Slurm job {result.job_id} TIMEOUT" in result.message
    assert "TimeLimit" in result.message
    log = job.log_path.read_text()
    assert "started" in log and "DUE TO TIME LIMIT" in log

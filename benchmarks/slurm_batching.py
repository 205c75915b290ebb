"""100 short jobs on a real local Slurm: one sbatch per job vs one DispatcherExecutor batch.

Baseline: ``SlurmJobTemplate.run`` for each job, 2 at a time (the node has 2 CPUs), i.e. 100
sbatch submissions. Candidate: ``DispatcherExecutor.run_batch`` with ``group_size`` tasks per
Slurm job. Prints wall time, Slurm jobs submitted (counted by job id) and the speed-up.

Run: ``.venv/bin/python benchmarks/slurm_batching.py [--jobs 100] [--group-size 25]``
(needs root; installs Slurm with apt-get when missing).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dflow.executor import ScriptJob
from dflow.testing.slurm import shared_local_slurm

SCRIPT = "echo $((21 * 2)) > out.txt\n"


def make_jobs(root: Path, count: int, tag: str) -> list[ScriptJob]:
    jobs = []
    for i in range(count):
        workdir = root / tag / f"item-{i:03d}"
        workdir.mkdir(parents=True)
        script = workdir.parent / f"script-{i:03d}.sh"
        script.write_text(SCRIPT)
        jobs.append(
            ScriptJob(
                name=f"{tag}-{i}",
                workflow_id="bench",
                script_path=script,
                command=("bash",),
                workdir=workdir,
                log_path=workdir.parent / f"log-{i:03d}.txt",
                outputs=("out.txt",),
            )
        )
    return jobs


def slurm_job_ids(slurm) -> set[str]:
    out = slurm.run("squeue", "-h", "-t", "all", "-o", "%i").stdout
    return set(out.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--group-size", type=int, default=25)
    args = parser.parse_args()

    from dflow_executor_dispatcher import DispatcherExecutor
    from dflow_executor_slurm import SlurmJobTemplate

    with tempfile.TemporaryDirectory() as tmp, shared_local_slurm() as slurm:
        root = Path(tmp)
        # keep login shells of the batch scripts away from the developer's dotfiles
        os.environ["HOME"] = str(root)

        jobs = make_jobs(root, args.jobs, "sbatch")
        before = slurm_job_ids(slurm)
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            results = list(pool.map(SlurmJobTemplate().run, jobs))
        baseline = time.perf_counter() - start
        baseline_jobs = len(slurm_job_ids(slurm) - before)
        assert all(r.exit_code == 0 for r in results), [r.message for r in results if r.exit_code]

        jobs = make_jobs(root, args.jobs, "batch")
        before = slurm_job_ids(slurm)
        executor = DispatcherExecutor(
            resources_dict={"group_size": args.group_size}, merge_sliced_step=True
        )
        executor.check_interval = 0.5
        start = time.perf_counter()
        results = executor.run_batch(jobs)
        batched = time.perf_counter() - start
        batched_jobs = len(slurm_job_ids(slurm) - before)
        assert all(r.exit_code == 0 for r in results), [r.message for r in results if r.exit_code]
        assert all((job.workdir / "out.txt").read_text().strip() == "42" for job in jobs)

    print(f"{args.jobs} jobs on a local Slurm ({os.cpu_count()} CPUs)")
    print(
        f"  one sbatch per job (SlurmJobTemplate):   {baseline:7.2f} s, {baseline_jobs:3d} Slurm jobs"
    )
    print(
        f"  DispatcherExecutor.run_batch, group {args.group_size:<3d}: {batched:7.2f} s, "
        f"{batched_jobs:3d} Slurm jobs"
    )
    print(
        f"  speed-up: {baseline / batched:.1f}x wall time, {baseline_jobs / max(batched_jobs, 1):.0f}x fewer jobs"
    )


if __name__ == "__main__":
    main()

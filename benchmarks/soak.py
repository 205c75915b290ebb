"""Soak: N back-to-back 1,000-way fan-outs in one driver process (not a test).

Each run is the fan-out workload of ``workloads/fanout.py`` (1,000 ``square`` slices, each
with a parameter and a file output, then a reduce step) on the local engine; a run fails when
it does not succeed or its sums are wrong. Reported: failures,
p50 / p95 / max seconds per run, the driver's RSS over time (a leak shows as growth) and
the machine's load average.
Each run's directory is removed after it is checked (``--keep`` keeps them).

    .venv/bin/python benchmarks/soak.py [N=20] [--width 1000] [--workers 2] [--keep]
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dflow import config

# the fan-out workload the other local-engine benchmarks run (workloads/fanout.py)
sys.path.insert(0, str(Path(__file__).resolve().parent / "workloads"))
from fanout import build, check


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_run(i: int, width: int) -> str | None:
    """Run once; None when it succeeded with the right sums, else what went wrong."""
    wf = build(width)
    wf.submit()
    phase = wf.query_status()
    if phase != "Succeeded":
        return f"run {i}: {phase} {wf.query().status.message}"
    ok, result = check(wf, width)
    return None if ok else f"run {i}: {result}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("n", nargs="?", type=int, default=20, help="runs (default 20)")
    p.add_argument("--width", type=int, default=1000, help="slices per run (default 1000)")
    p.add_argument("--workers", type=int, default=2, help="pool workers (default 2)")
    p.add_argument("--keep", action="store_true", help="keep each run's directory")
    p.add_argument("--workdir", help="where runs go (default: a temporary directory)")
    a = p.parse_args(argv)
    root = a.workdir or tempfile.mkdtemp(prefix="dflow-soak-")
    config["mode"] = "local"
    config["debug_workdir"] = root
    config["debug_pool_workers"] = a.workers
    print(f"soak: {a.n} runs of a {a.width}-way fan-out, {a.workers} workers, in {root}")
    times, failures, rss = [], [], [(0, rss_mb())]
    loads = [os.getloadavg()[0]]  # the machine is shared: its load explains the times
    every = max(1, a.n // 20)
    # SIGTERM (or ^C) ends the soak early with the numbers of the runs done so far
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for i in range(a.n):
            t0 = time.perf_counter()
            try:
                problem = one_run(i, a.width)
            except Exception as exc:  # a crash is a failure to report, not the end of the soak
                problem = f"run {i}: {type(exc).__name__}: {exc}"
            times.append(time.perf_counter() - t0)
            if problem:
                failures.append(problem)
                print("  FAILED", problem, flush=True)
            if not a.keep:
                for name in os.listdir(root):
                    shutil.rmtree(os.path.join(root, name), ignore_errors=True)
            gc.collect()
            rss.append((i + 1, rss_mb()))
            loads.append(os.getloadavg()[0])
            if (i + 1) % every == 0 or i + 1 == a.n:
                print(
                    f"  run {i + 1:4d}: {times[-1]:6.2f} s, driver RSS {rss[-1][1]:6.1f} MB, "
                    f"load {loads[-1]:.1f}",
                    flush=True,
                )
        stopped = False
    except KeyboardInterrupt:
        stopped = True
    if not times:
        print("stopped before the first run ended")
        return 1
    done = len(times)
    if stopped:
        print(f"stopped after {done} of {a.n} runs (the run in progress is not counted)")
    q = statistics.quantiles(times, n=20, method="inclusive") if len(times) > 1 else times * 19
    print(f"failures: {len(failures)} of {done}")
    print(
        f"seconds per run: p50 {statistics.median(times):.2f}, p95 {q[18]:.2f}, max {max(times):.2f}"
    )
    print(
        f"driver RSS: {rss[0][1]:.1f} MB before, {rss[min(1, len(rss) - 1)][1]:.1f} MB after "
        f"run 1, {rss[-1][1]:.1f} MB after run {rss[-1][0]} (max {max(r for _, r in rss):.1f} MB)"
    )
    print(
        f"load average (1 min) over the runs: min {min(loads):.1f}, "
        f"median {statistics.median(loads):.1f}, max {max(loads):.1f}"
    )
    if not a.workdir and not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failures or stopped else 0


if __name__ == "__main__":
    sys.exit(main())

"""The chain workload of several source trees, interleaved: median wall and CPU per step.

On a shared machine the load moves within a minute, so runs of the trees being compared
alternate (tree A at N/2 and N, tree B at N/2 and N, then again), and the medians over the
rounds are compared. "marginal" is (T(N) - T(N/2)) / (N/2): start-up and imports excluded.
CPU is that of the whole process tree from submit() to the end, as the workload reports it.
"cycle" is read from the journal of each long run: the time from one step's start to the
next one's, over the second half of the chain: the median shows a typical step whatever the
machine did meanwhile, the 10th percentile a step that met no other load, and the mean minus
the median what pauses cost.

    git archive 942d3a5 core/src plugins | (mkdir -p /tmp/before && tar -x -C /tmp/before)
    .venv/bin/python benchmarks/_chain_interleaved.py --dir /tmp --rounds 5 \\
        before=/tmp/before after=.
    .venv/bin/python benchmarks/_chain_interleaved.py --dir /dev/shm before=/tmp/before after=.

Not run by ``run_all.py`` (a leading underscore): it compares trees, it has no baseline.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import os
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

from _proc import discard, tree_path, workload_result

CHAIN = Path(__file__).resolve().parent / "workloads" / "chain.py"


def run_once(src: Path, n: int, base: str) -> tuple[float, float, list[float]]:
    """(wall seconds, CPU seconds, step cycles in seconds) of one chain of ``n`` run from
    the tree ``src``."""
    rundir = tempfile.mkdtemp(dir=base, prefix="dflow-chain-")
    env = {**os.environ, "DFLOW_MODE": "debug", "PYTHONPATH": tree_path(src)}
    try:
        result = workload_result(CHAIN, n, f"the chain of {n} from {src}", cwd=rundir, env=env)
        cycles = step_cycles(rundir)
    finally:
        discard(rundir)
    return result["seconds"], result["cpu"], cycles


def step_cycles(rundir: str) -> list[float]:
    """Seconds from each step's start to the next one's, in the order they ran."""
    starts = []
    for db in glob.glob(os.path.join(rundir, "*", "journal.db")):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT started FROM nodes WHERE type='Pod' AND started != ''")
            starts += [_seconds(r[0]) for r in rows if r[0]]
        finally:
            conn.close()
    starts.sort()
    return [b - a for a, b in zip(starts, starts[1:], strict=False)]


def _seconds(iso: str) -> float:
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("trees", nargs="+", help="label=source tree (with core/src and plugins/)")
    p.add_argument("--dir", default=tempfile.gettempdir(), help="where the runs' dirs go")
    p.add_argument("-n", type=int, default=200, help="steps of the long chain (and n/2)")
    p.add_argument("--rounds", type=int, default=4)
    a = p.parse_args()
    trees = {}
    for spec in a.trees:
        label, _, src = spec.partition("=")
        if not src or not (Path(src) / "core" / "src").is_dir():
            sys.exit(f"error: {spec!r}: give label=DIR, DIR holding core/src and plugins/")
        trees[label] = Path(src).resolve()
    half = a.n // 2
    runs: dict[str, dict[int, list[tuple[float, float, list[float]]]]] = {
        t: {half: [], a.n: []} for t in trees
    }
    for _ in range(a.rounds):
        for label, src in trees.items():
            for n in (half, a.n):
                runs[label][n].append(run_once(src, n, a.dir))
    load = os.getloadavg()
    print(f"chain of {a.n} and {half} in {a.dir}, {a.rounds} rounds; load {load[0]:.1f}")
    for label, by_n in runs.items():
        wall = {n: statistics.median(w for w, _, _ in r) for n, r in by_n.items()}
        cpu = {n: statistics.median(c for _, c, _ in r) for n, r in by_n.items()}
        best = min(w for w, _, _ in by_n[a.n])
        # the second half of each long run's chain: start-up and imports left out
        cycles = [c for _, _, cs in by_n[a.n] for c in cs[len(cs) // 2 :]]
        cycle = (
            f", cycle median {statistics.median(cycles) * 1e3:.2f} ms, "
            f"p10 {statistics.quantiles(cycles, n=10)[0] * 1e3:.2f} ms, "
            f"mean {statistics.fmean(cycles) * 1e3:.2f} ms"
            if len(cycles) > 1
            else ""
        )
        print(
            f"{label}: wall/step {wall[a.n] / a.n * 1e3:.2f} ms (best {best / a.n * 1e3:.2f}), "
            f"marginal wall {(wall[a.n] - wall[half]) / (a.n - half) * 1e3:.2f} ms, "
            f"CPU/step {cpu[a.n] / a.n * 1e3:.2f} ms, "
            f"marginal CPU {(cpu[a.n] - cpu[half]) / (a.n - half) * 1e3:.2f} ms{cycle}"
        )


if __name__ == "__main__":
    main()

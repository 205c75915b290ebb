"""The step cache on the local engine: a fan-out of N slices (default 1,000) then a reduce.

Runs, each in a fresh run directory, one cache directory shared by the cached runs:

* ``cold, no cache``: the baseline (``cache=False``);
* ``cold, cache``: the same with an empty cache: the cost of keying and storing every slice;
* ``warm, unchanged``: a re-run: every slice and the reduce restored;
* ``warm, 1% changed``: a re-run with N/100 items changed: those slices and the reduce run.

    .venv/bin/python benchmarks/cache_bench.py [N] [--quick] [--work-ms 50]

Prints wall times and ratios against ``cold, no cache``. Each slice's OP sleeps ``--work-ms``
(default 0), squares a number and writes a 1 KiB artifact: with no work, the OP costs almost
nothing, the worst case for the cache's overhead and the least it can save.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from dflow import Step, Workflow
from dflow.config import config
from dflow.python import OP, Artifact, PythonOPTemplate, Slices


@OP.function
def bench_square(x: int, work: float) -> {"y": int, "blob": Artifact(Path)}:  # noqa: F821
    time.sleep(work)  # the OP's own work (I/O, or compute elsewhere)
    Path("blob.bin").write_bytes(x.to_bytes(8, "big") * 128)
    return {"y": x * x, "blob": Path("blob.bin")}


@OP.function
def bench_total(ys: list) -> {"s": int}:  # noqa: F821
    return {"s": sum(ys)}


def build(xs: list[int], cache: bool, work: float) -> Workflow:
    wf = Workflow(name="cache-bench")
    sliced = Slices(input_parameter=["x"], output_parameter=["y"], output_artifact=["blob"])
    sq = Step(
        "square",
        PythonOPTemplate(bench_square, slices=sliced),
        parameters={"x": xs, "work": work},
        cache=cache,
    )
    tot = Step(
        "total", PythonOPTemplate(bench_total), parameters={"ys": sq.outputs.parameters["y"]}
    )
    tot.cache = cache
    wf.add(sq)
    wf.add(tot)
    return wf


def timed_run(xs: list[int], cache: bool, work: float, base: Path, label: str) -> float:
    config["debug_workdir"] = str(base / label.replace(" ", "-").replace(",", ""))
    wf = build(xs, cache, work)
    start = time.perf_counter()
    wf.submit()
    wf.wait()
    elapsed = time.perf_counter() - start
    if wf.query_status() != "Succeeded":
        raise SystemExit(f"{label}: the workflow ended {wf.query_status()}")
    expected = sum(x * x for x in xs)
    got = wf.query_step(name="total")[0].outputs.parameters["s"].value
    if int(got) != expected:
        raise SystemExit(f"{label}: total {got}, expected {expected}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1000, help="slices (default 1000)")
    parser.add_argument("--quick", action="store_true", help="200 slices")
    parser.add_argument(
        "--work-ms", type=float, default=0.0, help="each slice's own work, in ms (default 0)"
    )
    args = parser.parse_args()
    n = 200 if args.quick else args.n
    work = args.work_ms / 1000
    base = Path(tempfile.mkdtemp(prefix="dflow-cache-bench-"))
    os.environ["DFLOW_CACHE_DIR"] = str(base / "cache")
    config["mode"] = "local"
    xs = list(range(n))
    changed = list(xs)
    for i in range(0, n, 100):  # 1% of the items
        changed[i] += 10 * n
    try:
        rows = [
            ("cold, no cache", timed_run(xs, False, work, base, "cold, no cache")),
            ("cold, cache", timed_run(xs, True, work, base, "cold, cache")),
            ("warm, unchanged", timed_run(xs, True, work, base, "warm, unchanged")),
            ("warm, 1% changed", timed_run(changed, True, work, base, "warm, 1% changed")),
        ]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    baseline = rows[0][1]
    print(
        f"step cache, local engine, {n} slices of {args.work_ms:g} ms work + 1 reduce "
        "(baseline: cold, no cache)"
    )
    print(f"{'run':<20}{'wall s':>10}{'vs baseline':>14}")
    for label, seconds in rows:
        print(f"{label:<20}{seconds:>10.2f}{seconds / baseline:>13.2f}x")
    overhead = (rows[1][1] - baseline) / baseline * 100
    print(f"key computation and storing on a cold run: {overhead:+.1f}% of the run time")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The step cache on the local engine: a fan-out of N slices (default 1,000) then a reduce.

Runs, each in a fresh run directory, one cache directory shared by the cached runs:

* ``cold, no cache``: the baseline (``cache=False``);
* ``cold, cache``: the same with an empty cache: the cost of keying and storing every slice;
* ``warm, unchanged``: a re-run: every slice and the reduce restored;
* ``warm, 1% changed``: a re-run with N/100 items changed: those slices and the reduce run;
* ``warm, worker check``: ``warm, unchanged`` with the local engine's check before scheduling
  turned off, so each hit goes to a worker whose runner restores it (as before that check);
* ``cold, used cache``: N new items into the cache the runs above filled: a cold run without
  the one-time cost of an empty cache (its 256 ``entries/`` shard directories).

    .venv/bin/python benchmarks/cache_bench.py [N] [--quick] [--work-ms 50] [--repeat 3] [--raw]

Each round runs them in that order, with a ``cold, no cache`` run next to each cold run with
the cache (the pair's order alternating from round to round), so each is compared with a
run made under the same load. Prints, best and median over the rounds, wall and CPU times
(this process and its reaped children: the engine and its workers; CPU time is what load on
a shared machine inflates least) and the engine's own CPU time, the median ratio of each run
to its plain twin, and ``run_op``'s own CPU time per slice with and without the cache. Each slice's OP
sleeps ``--work-ms``
(default 0), squares a number and writes a 1 KiB artifact: with no work, the OP costs almost
nothing, the worst case for the cache's overhead and the least it can save.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
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


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (the run's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed_run(
    xs: list[int], cache: bool, work: float, base: Path, label: str
) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, the engine's own CPU seconds) of one run."""
    import contextlib

    from dflow_engine_local import leaves

    config["debug_workdir"] = str(base / label.replace(" ", "-").replace(",", ""))
    wf = build(xs, cache, work)
    start, cpu, own = time.perf_counter(), cpu_seconds(), time.process_time()
    with contextlib.ExitStack() as stack:
        if label == WORKER_CHECK:  # the engine's check off: every hit goes to a worker
            saved = leaves.probe
            leaves.probe = _no_probe
            stack.callback(setattr, leaves, "probe", saved)
        wf.submit()
        wf.wait()
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds() - cpu
    own = time.process_time() - own
    if wf.query_status() != "Succeeded":
        raise SystemExit(f"{label}: the workflow ended {wf.query_status()}")
    expected = sum(x * x for x in xs)
    got = wf.query_step(name="total")[0].outputs.parameters["s"].value
    if int(got) != expected:
        raise SystemExit(f"{label}: total {got}, expected {expected}")
    return elapsed, cpu, own


WORKER_CHECK = "warm, worker check"


async def _no_probe(ctx: object, leaf: object) -> None:
    return None  # the local engine's check before scheduling, turned off


def runner_cost(n: int, base: Path) -> tuple[float, float]:
    """CPU seconds per slice of ``run_op`` alone (no engine), without a cache and with an
    empty one, the two alternating slice by slice (so load on a shared machine weighs on
    both alike)."""
    import contextlib
    import io

    from dflow.runner import run_op
    from dflow.runner.cache import CacheSpec

    spec = CacheSpec(str(base / "cache"), "bench", "cache-bench/square", {"image": None})
    totals = [0.0, 0.0]
    for i in range(n):
        for cached in (False, True):
            step = base / f"{i}-{int(cached)}"
            (step / "inputs" / "parameters").mkdir(parents=True)
            (step / "inputs" / "parameters" / "x").write_text(str(i))
            (step / "inputs" / "parameters" / "work").write_text("0")
            start = time.process_time()
            with contextlib.redirect_stderr(io.StringIO()):
                result = run_op(
                    bench_square,
                    inputs_dir=step / "inputs",
                    outputs_dir=step / "outputs",
                    workdir=step / "work",
                    cache=spec if cached else None,
                )
            totals[cached] += time.process_time() - start
            if not result.ok:
                raise SystemExit(f"run_op failed: {result.message}")
    return totals[0] / n, totals[1] / n


def _rounds_plan(n: int, r: int) -> list[tuple[str, list[int], bool]]:
    """One round's runs, in order. Each cold run with the cache is paired with a run without
    it next to it, the pair's order alternating from round to round (so drifting load and
    the bench process's own state weigh on both alike); warm runs follow the cold run that
    filled the cache."""
    xs = list(range(n))
    changed = list(xs)
    for i in range(0, n, 100):  # 1% of the items
        changed[i] += 10 * n
    fresh = [x + (20 + r) * n * 10 for x in xs]  # never run before: misses in a used cache
    first = [(NO_CACHE, xs, False), (COLD, xs, True)]
    second = [(NO_CACHE, xs, False), (USED, fresh, True)]
    if r % 2:
        first.reverse()
        second.reverse()
    warm = [(WARM, xs, True), ("warm, 1% changed", changed, True), (WORKER_CHECK, xs, True)]
    return first + warm + second


NO_CACHE, COLD, WARM, USED = "cold, no cache", "cold, cache", "warm, unchanged", "cold, used cache"
ROWS = [NO_CACHE, COLD, WARM, "warm, 1% changed", WORKER_CHECK, USED]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1000, help="slices (default 1000)")
    parser.add_argument("--quick", action="store_true", help="200 slices")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument(
        "--work-ms", type=float, default=0.0, help="each slice's own work, in ms (default 0)"
    )
    parser.add_argument("--no-runner", action="store_true", help="skip run_op's own cost")
    parser.add_argument("--raw", action="store_true", help="print each run as it ends")
    args = parser.parse_args()
    n = 200 if args.quick else args.n
    work = args.work_ms / 1000
    base = Path(tempfile.mkdtemp(prefix="dflow-cache-bench-"))
    config["mode"] = "local"
    load = os.getloadavg()
    # a first run pays for imports and the engine's start: not in any measured row
    timed_run(list(range(20)), False, work, base / "warm-up", "warm up")
    runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label in ROWS}
    # each run against the run without the cache next to it (cold) or first in its round
    ratios: dict[str, list[tuple[float, float]]] = {label: [] for label in ROWS}
    runner: list[tuple[float, float]] = []
    try:
        for r in range(args.repeat):
            os.environ["DFLOW_CACHE_DIR"] = str(base / f"cache-{r}")
            plain: list[tuple[float, float, float]] = []  # this round's, in order
            seen: dict[str, tuple[float, float, float]] = {}
            for label, items, cache in _rounds_plan(n, r):
                wall, cpu, engine = timed_run(items, cache, work, base / f"round-{r}", label)
                runs[label].append((wall, cpu, engine))
                if args.raw:
                    print(f"round {r}: {label:<19}{wall:>8.2f}{cpu:>8.2f}{engine:>8.2f}")
                shutil.rmtree(base / f"round-{r}", ignore_errors=True)
                if label == NO_CACHE:
                    plain.append((wall, cpu, engine))
                else:
                    seen[label] = (wall, cpu, engine)
            for label, row in seen.items():  # USED's twin is the round's second plain run
                twin = plain[1] if label == USED else plain[0]
                ratios[label].append((row[0] / twin[0], row[1] / twin[1]))
            if not args.no_runner:
                runner.append(runner_cost(n, base / f"runner-{r}"))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report(args, n, load, runs, ratios, runner)
    return 0


def report(
    args: argparse.Namespace,
    n: int,
    load: tuple[float, float, float],
    runs: dict[str, list[tuple[float, float, float]]],
    ratios: dict[str, list[tuple[float, float]]],
    runner: list[tuple[float, float]],
) -> None:
    print(
        f"step cache, local engine, {n} slices of {args.work_ms:g} ms work + 1 reduce, "
        f"{args.repeat} rounds; load average {load[0]:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs, TMPDIR "
        f"{tempfile.gettempdir()}"
    )
    print(
        "best / median of the runs; 'vs plain': the median of each run's ratio to the run "
        "without the cache paired with it (cold) or first in its round (warm)"
    )
    head = f"{'run':<19}{'wall s':>12}{'CPU s':>12}{'engine CPU s':>14}"
    print(f"{head}{'vs plain: wall':>16}{'CPU':>8}")
    for label in ROWS:
        rows = runs[label]
        cols = [
            f"{min(r[i] for r in rows):.2f}/{statistics.median(r[i] for r in rows):.2f}"
            for i in range(3)
        ]
        line = f"{label:<19}{cols[0]:>12}{cols[1]:>12}{cols[2]:>14}"
        if ratios[label]:
            wall = statistics.median(x[0] for x in ratios[label])
            cpu = statistics.median(x[1] for x in ratios[label])
            line += f"{(wall - 1) * 100:>+15.1f}%{(cpu - 1) * 100:>+7.1f}%"
        print(line)
    if runner:
        plain = statistics.median(x[0] for x in runner)
        extra = statistics.median(x[1] - x[0] for x in runner)
        per_slice = statistics.median(r[1] for r in runs[NO_CACHE]) / n
        print(
            f"run_op alone, CPU per slice (median of {len(runner)}): {plain * 1000:.3f} ms, "
            f"with an empty cache +{extra * 1000:.3f} ms: {extra / per_slice * 100:.1f}% "
            "of a slice's CPU time in the cold run without the cache"
        )


if __name__ == "__main__":
    sys.exit(main())

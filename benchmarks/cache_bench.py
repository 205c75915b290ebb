"""The step cache on the local engine: a fan-out of N slices (default 1,000) then a reduce.

Runs, each in a fresh run directory, one cache directory shared by the cached runs of a round:

* ``cold, no cache``: the baseline (``cache=False``);
* ``cold, keys only``: with an empty cache, every slice keyed and probed (a miss), nothing
  stored (the runner's store turned off): the cost of computing keys and the probe;
* ``cold, cache``: the same with the store on: keys, probe and storing every slice;
* ``warm, unchanged``: a re-run: every slice and the reduce restored;
* ``warm, 1% changed``: a re-run with N/100 items changed: those slices and the reduce run;
* ``warm, worker check`` (no work only): ``warm, unchanged`` with the local engine's check
  before scheduling turned off, so each hit goes to a worker whose runner restores it;
* ``cold, used cache`` (no work only): N new items into the cache the runs above filled.

    .venv/bin/python benchmarks/cache_bench.py [N] [--quick] [--work-ms 0,5,50] [--repeat 3]

Each slice's OP burns ``--work-ms`` of CPU (a busy loop on its own CPU clock; default 0, a
comma-separated list runs each), squares a number and writes a 1 KiB artifact: with no work
the OP costs almost nothing, the worst case for the cache's overhead. The three cold runs of a
round are made one after the other, their order rotating from round to round, so each is
compared with runs made under the same load. Prints, best and median over the rounds, wall and
CPU times (this process and its reaped children: the engine and its workers) and the engine's
own CPU time; the overhead of keys + probe (``keys only`` against ``no cache``) and of storing
(``cache`` against ``keys only``), as the median of the rounds' ratios and per slice; and
``run_op``'s own cost per slice of a cached cold run, split into keys + probe and store (CPU
and wall µs, timed around the runner's two cache calls, slice by slice in this process).
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


def burn(seconds: float) -> None:
    """Busy for ``seconds`` of this process's CPU time: the OP's own work."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


@OP.function
def bench_square(x: int, work: float) -> {"y": int, "blob": Artifact(Path)}:  # noqa: F821
    burn(work)
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


NO_CACHE, KEYS, COLD = "cold, no cache", "cold, keys only", "cold, cache"
WARM, CHANGED, WORKER_CHECK, USED = (
    "warm, unchanged",
    "warm, 1% changed",
    "warm, worker check",
    "cold, used cache",
)
ROWS = [NO_CACHE, KEYS, COLD, WARM, CHANGED, WORKER_CHECK, USED]
Times = tuple[float, float, float]  # wall, CPU, the engine's own CPU (seconds)


def timed_run(xs: list[int], cache: bool, work: float, base: Path, label: str) -> Times:
    """(wall seconds, CPU seconds, the engine's own CPU seconds) of one run."""
    import contextlib

    from dflow.runner import cache as runner_cache
    from dflow_engine_local import leaves

    config["debug_workdir"] = str(base / label.replace(" ", "-").replace(",", ""))
    wf = build(xs, cache, work)
    start, cpu, own = time.perf_counter(), cpu_seconds(), time.process_time()
    with contextlib.ExitStack() as stack:
        if label == WORKER_CHECK:  # the engine's check off: every hit goes to a worker
            stack.callback(setattr, leaves, "probe", leaves.probe)
            leaves.probe = _no_probe
        if label == KEYS:  # the workers (forked from here) key and probe, store nothing
            stack.callback(setattr, runner_cache, "store", runner_cache.store)
            runner_cache.store = _no_store
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


async def _no_probe(ctx: object, leaf: object) -> None:
    return None  # the local engine's check before scheduling, turned off


def _no_store(*args: object, **kwargs: object) -> None:
    return None  # the runner's store (entry and history line), turned off


def runner_cost(n: int, work: float, base: Path) -> tuple[float, float, float, float]:
    """Per slice of ``run_op`` alone (no engine) with an empty cache: (CPU, wall) seconds of
    keys + probe, then (CPU, wall) of the store (entry and history line), timed around the
    runner's two calls into the cache."""
    import contextlib
    import io

    from dflow.runner import cache as runner_cache
    from dflow.runner import run_op

    spent = [0.0, 0.0, 0.0, 0.0]

    def timed(fn: object, slot: int) -> object:
        def wrapper(*args: object, **kwargs: object) -> object:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)  # type: ignore[operator]
            finally:
                spent[slot] += time.thread_time() - cpu
                spent[slot + 1] += time.perf_counter() - wall

        return wrapper

    spec = runner_cache.CacheSpec(str(base / "cache"), "bench", "cache-bench/square", {})
    saved = runner_cache.lookup, runner_cache.store
    runner_cache.lookup, runner_cache.store = timed(saved[0], 0), timed(saved[1], 2)
    try:
        for i in range(n):
            step = base / str(i)
            (step / "inputs" / "parameters").mkdir(parents=True)
            (step / "inputs" / "parameters" / "x").write_text(str(i))
            (step / "inputs" / "parameters" / "work").write_text(str(work))
            with contextlib.redirect_stderr(io.StringIO()):
                result = run_op(
                    bench_square,
                    inputs_dir=step / "inputs",
                    outputs_dir=step / "outputs",
                    workdir=step / "work",
                    cache=spec,
                )
            if not result.ok:
                raise SystemExit(f"run_op failed: {result.message}")
    finally:
        runner_cache.lookup, runner_cache.store = saved
    return spent[0] / n, spent[1] / n, spent[2] / n, spent[3] / n


def _round_plan(n: int, r: int, work: float) -> list[tuple[str, list[int], bool]]:
    """One round's runs, in order. The three cold runs come first, their order rotating from
    round to round (so drifting load and the bench process's own state weigh on them alike);
    warm runs follow the cold run that filled the cache; with no work, a ``used cache`` run
    and a plain twin end the round, their order alternating."""
    xs = list(range(n))
    changed = list(xs)
    for i in range(0, n, 100):  # 1% of the items
        changed[i] += 10 * n
    cold = [(NO_CACHE, xs, False), (KEYS, xs, True), (COLD, xs, True)]
    cold = cold[r % 3 :] + cold[: r % 3]  # KEYS: a cache of its own (see measure)
    plan = cold + [(WARM, xs, True), (CHANGED, changed, True)]
    if work == 0:
        fresh = [x + (20 + r) * n * 10 for x in xs]  # never run before: misses in a used cache
        last = [(NO_CACHE, xs, False), (USED, fresh, True)]
        plan += [(WORKER_CHECK, xs, True)] + (last[::-1] if r % 2 else last)
    return plan


def measure(args: argparse.Namespace, n: int, work: float, base: Path) -> dict:
    """The rounds of one amount of work: {"runs", "ratios", "runner"}."""
    runs: dict[str, list[Times]] = {label: [] for label in ROWS}
    # each run against the plain run of its round (USED: the plain run next to it)
    ratios: dict[str, list[tuple[float, float]]] = {label: [] for label in ROWS}
    runner: list[tuple[float, float, float, float]] = []
    cold: list[tuple[Times, Times, Times]] = []  # each round's plain, keys only, cache
    for r in range(args.repeat):
        plain: list[Times] = []
        seen: dict[str, Times] = {}
        for label, items, cache in _round_plan(n, r, work):
            # ``keys only`` stores nothing, into a cache of its own: it misses wherever it
            # comes in the round
            where = f"keys-{work}-{r}" if label == KEYS else f"{work}-{r}"
            os.environ["DFLOW_CACHE_DIR"] = str(base / f"cache-{where}")
            times = timed_run(items, cache, work, base / f"round-{r}", label)
            runs[label].append(times)
            if args.raw:
                print(f"{work * 1000:g} ms, round {r}: {label:<19}", *(f"{t:8.2f}" for t in times))
            shutil.rmtree(base / f"round-{r}", ignore_errors=True)
            if label == NO_CACHE:
                plain.append(times)
            else:
                seen[label] = times
        for label, row in seen.items():
            twin = plain[1] if label == USED else plain[0]
            ratios[label].append((row[0] / twin[0], row[1] / twin[1]))
        cold.append((plain[0], seen[KEYS], seen[COLD]))
        if not args.no_runner:
            slices = min(n, args.runner_slices)
            runner.append(runner_cost(slices, work, base / f"runner-{work}-{r}"))
            shutil.rmtree(base / f"runner-{work}-{r}", ignore_errors=True)
    return {"runs": runs, "ratios": ratios, "runner": runner, "cold": cold}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1000, help="slices (default 1000)")
    parser.add_argument("--quick", action="store_true", help="200 slices")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument(
        "--work-ms", default="0", help="each slice's CPU work, in ms; a list: 0,5,50 (default 0)"
    )
    parser.add_argument("--no-runner", action="store_true", help="skip run_op's own cost")
    parser.add_argument(
        "--runner-slices", type=int, default=300, help="slices of run_op's own cost per round"
    )
    parser.add_argument("--raw", action="store_true", help="print each run as it ends")
    args = parser.parse_args()
    n = 200 if args.quick else args.n
    works = [float(w) / 1000 for w in args.work_ms.split(",")]
    base = Path(tempfile.mkdtemp(prefix="dflow-cache-bench-"))
    config["mode"] = "local"
    load = os.getloadavg()
    # a first run pays for imports and the engine's start: not in any measured row
    timed_run(list(range(20)), False, 0.0, base / "warm-up", "warm up")
    try:
        results = {work: measure(args, n, work, base) for work in works}
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(
        f"step cache, local engine, {n} slices + 1 reduce, {args.repeat} rounds; load average "
        f"{load[0]:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs, TMPDIR "
        f"{tempfile.gettempdir()}"
    )
    for work, result in results.items():
        report(n, work, result)
    return 0


def _best_median(values: list[float], scale: float = 1.0, fmt: str = ".2f") -> str:
    return f"{min(values) * scale:{fmt}}/{statistics.median(values) * scale:{fmt}}"


def report(n: int, work: float, result: dict) -> None:
    runs, ratios, runner = result["runs"], result["ratios"], result["runner"]
    print(f"\n{work * 1000:g} ms of CPU work per slice; best/median of the rounds")
    head = f"{'run':<19}{'wall s':>12}{'CPU s':>12}{'engine CPU s':>14}"
    print(f"{head}{'vs plain: wall':>16}{'CPU':>8}")
    for label in ROWS:
        rows = runs[label]
        if not rows:
            continue
        cols = [_best_median([r[i] for r in rows]) for i in range(3)]
        line = f"{label:<19}{cols[0]:>12}{cols[1]:>12}{cols[2]:>14}"
        if ratios[label]:
            wall = statistics.median(x[0] for x in ratios[label])
            cpu = statistics.median(x[1] for x in ratios[label])
            line += f"{(wall - 1) * 100:>+15.1f}%{(cpu - 1) * 100:>+7.1f}%"
        print(line)
    # the cold overhead, split: the median of the rounds' differences (runs of one round)
    for what, hi, lo in (("keys + probe", 1, 0), ("storing", 2, 1)):
        share = [[(c[hi][i] - c[lo][i]) / c[0][i] for c in result["cold"]] for i in (0, 1)]
        per = [[(c[hi][i] - c[lo][i]) / n * 1e6 for c in result["cold"]] for i in (0, 1)]
        print(
            f"cold overhead, {what:<13} wall {statistics.median(share[0]) * 100:+6.1f}% "
            f"({statistics.median(per[0]):+5.0f} µs/slice), CPU "
            f"{statistics.median(share[1]) * 100:+6.1f}% "
            f"({statistics.median(per[1]):+5.0f} µs/slice)"
        )
    if runner:
        cols = [_best_median([r[i] for r in runner], 1e6, ".0f") for i in range(4)]
        print(
            f"run_op alone, per slice, best/median µs: keys + probe CPU {cols[0]}, wall "
            f"{cols[1]}; store CPU {cols[2]}, wall {cols[3]}"
        )


if __name__ == "__main__":
    sys.exit(main())

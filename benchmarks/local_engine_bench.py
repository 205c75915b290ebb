"""dflow's local engine against pydflow's debug mode, on the same workload scripts.

Workloads (``benchmarks/workloads/``, public pydflow API only, run with ``DFLOW_MODE=debug``):

* (a) ``chain``: N chained function-OP steps passing a parameter and a file artifact;
* (b) ``fanout``: N function-OP slices (Slices, stacked outputs) then a reduce step;
* (c) ``fanout-big``: the same at 10,000 slices (ours only unless ``--pydflow-all``).

Each run is a subprocess in a fresh directory with a time cap; peak memory is the largest sum
over the run's process tree of PSS (RSS where PSS is unreadable), sampled from /proc. pydflow
is installed once with uv into its own venv (default ``.work/bench/pydflow-venv``).

    .venv/bin/python benchmarks/local_engine_bench.py            # full: 50 / 1,000 / 10,000
    .venv/bin/python benchmarks/local_engine_bench.py --quick    # 20 / 200, no 10,000 run
    .venv/bin/python benchmarks/local_engine_bench.py --only chain --repeat 5 --strace \
        --pydflow-venv /work/ref/pydflow-venv                    # the chain row of the README

For the chain, a second run at N/2 gives the marginal cost of a step (start-up excluded): wall
time and CPU time of the whole process tree from submit() to the end (the runner and its pool
workers, as the workload reports it), and with ``--strace`` the system calls per step
(``strace -f -c`` at N and N/2). CPU and system-call counts move much less than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import compile_dirs, discard, tree_dirs, tree_path

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = Path(__file__).resolve().parent / "workloads"
DEFAULT_VENV = ROOT / ".work" / "bench" / "pydflow-venv"
PAGE = os.sysconf("SC_PAGE_SIZE")


@attrs.define
class Run:
    """The outcome of one workload run under one implementation."""

    seconds: float | None = None  # submit..finish, as the workload reported it
    ok: bool = False
    result: object = None
    peak_mb: float | None = None
    note: str = ""  # "did not finish in X s", "failed: ...", "skipped"
    marginal_ms: float | None = None  # chain: (T(N) - T(N/2)) / (N - N/2), start-up excluded
    cpu_s: float | None = None  # CPU (user + system) of the whole process tree
    marginal_cpu_ms: float | None = None  # chain: the same difference of CPU time
    syscalls: dict[str, float] | None = None  # chain, --strace: calls per step (N vs N/2)
    log: str = ""  # where the full output was kept (failures only)
    tail: str = ""  # the last lines of the output of a failed run


# -- memory of a process tree -----------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # exited meanwhile
            continue
        # the command name may hold spaces and parentheses: split after the last ')'
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _proc_mb(pid: int) -> float:
    """PSS of ``pid`` in MiB (its RSS where PSS is unreadable)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _rss_mb(pid)


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE / 2**20
    except OSError:
        return 0.0


def _tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    kids, out, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


class PeakSampler(threading.Thread):
    """The peak memory of a process and its descendants, in MiB (shared pages counted once,
    by PSS).

    Every ``interval`` s it reads the tree's RSS (``statm``: a few µs), and its PSS when that
    RSS has grown 2% past the last PSS sample's or ``pss_every`` s after it (a forked
    worker's pages become its own without growing its RSS): ``smaps_rollup`` walks the page
    tables, 25 ms for a 700 MB runner, and four times a second that took 10% of a core from
    the run it measures, the more the larger the run (it inflated the growth of a
    100,000-way fan-out over a 10,000-way one).
    """

    def __init__(self, pid: int, interval: float = 0.25, pss_every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.pss_every, self.peak = pid, interval, pss_every, 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        sampled_rss, sampled_at = 0.0, float("-inf")
        while not self._halt.is_set():
            pids = _tree(self.pid)
            rss = sum(_rss_mb(pid) for pid in pids)
            if rss > sampled_rss * 1.02 or time.monotonic() - sampled_at > self.pss_every:
                self.peak = max(self.peak, sum(_proc_mb(pid) for pid in pids))
                sampled_rss, sampled_at = rss, time.monotonic()
            self._halt.wait(self.interval)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return self.peak


# -- running one workload ---------------------------------------------------------------
def run_workload(
    python: str,
    script: str,
    n: int,
    env: dict[str, str],
    cap: float,
    work: Path,
    label: str,
    prefix: tuple[str, ...] = (),
    keep: bool = False,
) -> Run:
    """Run ``python workloads/<script> n`` in a fresh dir under ``work``, killed after ``cap`` s
    (``prefix``: a command that runs it, ``strace ...``; ``keep``: its dir is left for the
    caller to read and remove)."""
    rundir = work / f"{label}-{script.removesuffix('.py')}-{n}"
    shutil.rmtree(rundir, ignore_errors=True)
    rundir.mkdir(parents=True)
    log_path = rundir / "output.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*prefix, python, str(WORKLOADS / script), str(n)],
            cwd=rundir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = PeakSampler(proc.pid)
        sampler.start()
        timed_out = False
        try:
            proc.wait(timeout=cap)
        except subprocess.TimeoutExpired:
            timed_out = True
        # the whole session: pydflow's pool workers and step scripts too
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        peak = sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = log_path.read_text(errors="replace")
    run = Run(peak_mb=round(peak, 1))
    # everything the workload's tree used and waited for: the runner and its pool workers
    run.cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
    if timed_out:
        run.note = f"did not finish in {cap:g} s"
        done = _succeeded_steps(rundir)
        if done:
            run.note += f" ({done} of its steps had succeeded)"
    elif not lines:
        run.note = f"failed (exit code {proc.returncode}, no RESULT line)"
    else:
        data = json.loads(lines[-1][len("RESULT ") :])
        run.seconds, run.ok, run.result = data["seconds"], data["ok"], data["result"]
        if data.get("cpu") is not None:  # submit..finish only: start-up and imports left out
            run.cpu_s = data["cpu"]
        if not run.ok:
            run.note = f"wrong or failed: {data['result']}"
    if run.note:  # keep the output for the report
        kept = work / "logs" / f"{rundir.name}.log"
        kept.parent.mkdir(exist_ok=True)
        shutil.copy(log_path, kept)
        run.log = str(kept)
        if not timed_out:  # a failure: keep the workflow directory too, for the engine author
            run.tail = "\n".join(text.splitlines()[-15:])
            dest = work / "logs" / rundir.name
            shutil.rmtree(dest, ignore_errors=True)
            rundir.rename(dest)
            run.log += f"; workflow directory: {dest}"
    if not (keep and run.ok):
        discard(rundir)  # removed at exit: a removal now would slow the next run (see discard)
    return run


def best_of(
    repeat: int, python: str, script: str, n: int, env: dict[str, str], cap: float, work: Path
) -> Run:
    """The fastest successful of ``repeat`` runs of ours (the first failure is returned), with
    the least CPU time of them (the two need not come from the same run)."""
    best: Run | None = None
    least_cpu = None
    for _ in range(max(1, repeat)):
        run = run_workload(python, script, n, env, cap, work, "ours")
        if not run.ok:
            return run
        if best is None or run.seconds < best.seconds:
            best = run
        if run.cpu_s is not None and (least_cpu is None or run.cpu_s < least_cpu):
            least_cpu = run.cpu_s
    assert best is not None  # repeat >= 1
    best.cpu_s = least_cpu
    return best


def syscalls_per_step(
    python: str, n: int, env: dict[str, str], cap: float, work: Path
) -> dict[str, float] | None:
    """System calls per chain step, by name: ``strace -f -c`` of the chain at N and N/2, the
    difference over N - N/2 (None when strace is missing or a run failed)."""
    strace = shutil.which("strace")
    if strace is None or n < 4:
        return None
    counts = []
    for size in (n // 2, n):
        out = work / f"strace-{size}.txt"
        run = run_workload(
            python, "chain.py", size, env, cap, work, "strace", (strace, "-f", "-c", "-o", str(out))
        )
        if not run.ok:
            return None
        counts.append(_strace_counts(out.read_text()))
        out.unlink()
    steps = n - n // 2
    names = set(counts[0]) | set(counts[1])
    per = {k: (counts[1].get(k, 0) - counts[0].get(k, 0)) / steps for k in names}
    return dict(sorted(((k, v) for k, v in per.items() if v > 0), key=lambda kv: -kv[1]))


def _strace_counts(text: str) -> dict[str, int]:
    """Successful calls by name from a ``strace -c`` summary (calls minus errors)."""
    counts = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or not parts[0][0].isdigit() or parts[-1] == "total":
            continue
        try:
            calls, errors = int(parts[3]), int(parts[4]) if len(parts) == 6 else 0
        except ValueError:
            continue
        counts[parts[-1]] = calls - errors
    return counts


def print_chain_row(
    head: str, load: str, n: int, ours: Run, theirs: Run | None, cap: float
) -> None:
    """The chain's row of the table in benchmarks/README.md (and the system calls behind it)."""
    per_step = f"{ours.seconds / n * 1000:.1f}" if ours.ok and ours.seconds else "-"
    calls = ours.syscalls or {}
    total = f"{sum(calls.values()):.0f}" if calls else "-"
    fs = ", ".join(f"{k} {calls[k]:.1f}" for k in ("mkdir", "openat", "newfstatat") if k in calls)
    cells = (
        head,
        load,
        str(n),
        _secs(ours),
        _secs(theirs),
        _ratio(ours, theirs, cap),
        per_step,
        f"{ours.marginal_ms:.1f}" if ours.marginal_ms is not None else "-",
        f"{ours.marginal_cpu_ms:.1f}" if ours.marginal_cpu_ms is not None else "-",
        total,
        fs or "-",
    )
    print(
        "README row: | commit | load | N | ours (s) | pydflow (s) | ratio | ms/step | marginal "
        "ms/step | marginal CPU ms/step | syscalls/step | of which |"
    )
    print("| " + " | ".join(cells) + " |")
    if calls:
        shown = ", ".join(f"{k} {v:.1f}" for k, v in calls.items() if v >= 0.5)
        print(f"system calls per step (strace -f -c, N vs N/2, successful calls): {shown}")


def _succeeded_steps(rundir: Path) -> int:
    """Steps whose ``phase`` file says Succeeded (the step-dir layout both engines share)."""
    count = 0
    for phase in rundir.glob("*/*/phase"):
        try:
            count += phase.read_text().strip() == "Succeeded"
        except OSError:
            pass
    return count


def _compile_venv(venv: Path) -> None:
    compile_dirs(sorted(venv.glob("lib/python*/site-packages")), str(venv / "bin" / "python"))


def ensure_pydflow(venv: Path, version: str) -> str:
    """The venv's python, creating the venv and installing pydflow with uv the first time,
    byte-compiled (uv does not compile by default: see :func:`_proc.compile_dirs`)."""
    python = venv / "bin" / "python"
    marker = venv / f".pydflow-{version}"
    compiled = venv / f".pydflow-{version}.compiled"
    if marker.exists():
        if not compiled.exists():  # installed by an older run, without bytecode
            _compile_venv(venv)
            compiled.touch()
        return str(python)
    if python.exists():  # made by hand or by an older run: reuse it if the version matches
        probe = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('pydflow'))"],
            capture_output=True,
            text=True,
        )
        if probe.stdout.strip() == version:  # (no marker: the venv may not be ours to write)
            _compile_venv(venv)  # the bytecode any import there would write (pip compiles)
            return str(python)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        sys.exit("error: uv not found next to this python or on PATH; run `make setup` first")
    print(f"installing pydflow=={version} into {venv} (once)", flush=True)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([uv, "venv", "-q", "--clear", "--python", py, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(python),
         f"pydflow=={version}"],
        check=True,
    )  # fmt: skip
    marker.touch()
    compiled.touch()
    return str(python)


# -- the table ------------------------------------------------------------------------------
def _secs(run: Run | None) -> str:
    if run is None:
        return "-"
    if run.seconds is None or not run.ok:
        return run.note.split(" (")[0].split(":")[0] if run.note else "-"
    return f"{run.seconds:.2f}"


def _ratio(ours: Run, theirs: Run | None, cap: float) -> str:
    if theirs is None or ours.seconds is None or not ours.ok:
        return "-"
    if theirs.seconds is not None and theirs.ok:
        return f"{theirs.seconds / ours.seconds:.1f}x"
    if theirs.note.startswith("did not finish"):
        return f">{cap / ours.seconds:.0f}x"
    return "-"


def print_table(rows: list[tuple[str, int, Run, Run | None]], cap: float) -> None:
    head = (
        "workload",
        "N",
        "ours (s)",
        "pydflow (s)",
        "ratio",
        "ours peak MB",
        "pydflow peak MB",
        "ms/step (ours)",
        "marginal ms/step",
    )
    table = [head]
    for name, n, ours, theirs in rows:
        per_step = f"{ours.seconds / n * 1000:.1f}" if ours.ok and ours.seconds else "-"
        table.append(
            (
                name,
                str(n),
                _secs(ours),
                _secs(theirs),
                _ratio(ours, theirs, cap),
                f"{ours.peak_mb:.0f}" if ours.peak_mb else "-",
                f"{theirs.peak_mb:.0f}" if theirs and theirs.peak_mb else "-",
                per_step,
                f"{ours.marginal_ms:.1f}" if ours.marginal_ms is not None else "-",
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for i, r in enumerate(table):
        print(
            "  ".join(
                c.ljust(w) if j == 0 else c.rjust(w)
                for j, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for name, _, ours, theirs in rows:
        for label, run in (("ours", ours), ("pydflow", theirs)):
            if run is not None and run.note and run.note != "skipped":
                print(
                    f"  {name} / {label}: {run.note}" + (f" (output: {run.log})" if run.log else "")
                )
                for line in run.tail.splitlines():
                    print(f"    | {line}")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="chain 20, fan-out 200, no 10,000 run")
    p.add_argument("--chain", type=_positive, help="steps of (a) (default 50; quick 20)")
    p.add_argument("--fanout", type=_positive, help="slices of (b) (default 1000; quick 200)")
    p.add_argument("--big", type=_positive, default=10_000, help="slices of (c) (default 10000)")
    p.add_argument("--only", default="chain,fanout,big", help="comma list of chain,fanout,big")
    p.add_argument("--pydflow-cap", type=float, help="seconds per pydflow run (600; quick 180)")
    p.add_argument("--ours-cap", type=float, default=900, help="seconds per run of ours")
    p.add_argument(
        "--repeat",
        type=_positive,
        default=1,
        help="runs of ours per workload, best kept (the machine may be shared)",
    )
    p.add_argument("--pydflow-all", action="store_true", help="run pydflow on (c) too")
    p.add_argument("--no-pydflow", action="store_true", help="run ours only")
    p.add_argument("--pydflow-venv", type=Path, default=DEFAULT_VENV)
    p.add_argument("--pydflow-version", default="1.8.134")
    p.add_argument("--workdir", type=Path, default=ROOT / ".work" / "bench" / "runs")
    p.add_argument("--json", type=Path, help="also write the results to this file")
    p.add_argument(
        "--strace", action="store_true", help="count the chain's system calls per step (strace)"
    )
    p.add_argument(
        "--ours-src",
        type=Path,
        help="run ours from this source tree instead (another commit's files, e.g. `git archive"
        " main core/src plugins | tar -x -C DIR`): its core/src and plugins/*/src come first",
    )
    p.add_argument("--label", help="the commit column for --ours-src (default: its directory)")
    a = p.parse_args(argv)
    cap = a.pydflow_cap or (180.0 if a.quick else 600.0)
    plan = []
    only = set(a.only.split(","))
    if "chain" in only:
        plan.append(("(a) chain", "chain.py", a.chain or (20 if a.quick else 50), True))
    if "fanout" in only:
        plan.append(("(b) fan-out", "fanout.py", a.fanout or (200 if a.quick else 1000), True))
    if "big" in only and not a.quick:
        plan.append(("(c) fan-out", "fanout.py", a.big, a.pydflow_all))

    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    base_env["DFLOW_MODE"] = "debug"  # pydflow's switch; dflow reads it as the local engine
    ours_env = dict(base_env)
    if a.ours_src is not None:
        if not (a.ours_src / "core" / "src").is_dir():
            sys.exit(f"error: --ours-src {a.ours_src}: no core/src below it (see --help)")
        ours_env["PYTHONPATH"] = tree_path(a.ours_src)
    else:
        compile_dirs(tree_dirs(ROOT))
    pyd_python = None if a.no_pydflow else ensure_pydflow(a.pydflow_venv, a.pydflow_version)
    # pydflow's debug mode starts each step as `python3` found on PATH: make it the venv's
    pyd_env = dict(base_env, PATH=f"{a.pydflow_venv / 'bin'}{os.pathsep}{base_env['PATH']}")

    rows, work = [], a.workdir
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    head = (
        subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        or "?"
    )
    if a.ours_src is not None:
        head = a.label or str(a.ours_src)
    print(f"dflow at commit {head}")
    print(
        f"local engine vs pydflow {a.pydflow_version} debug mode; {os.cpu_count()} CPUs, "
        f"load average {load}; pydflow cap {cap:g} s",
        flush=True,
    )
    for name, script, n, with_pydflow in plan:
        print(f"  running {name} N={n}: ours ...", end="", flush=True)
        ours = best_of(a.repeat, sys.executable, script, n, ours_env, a.ours_cap, work)
        print(f" {_secs(ours)}", end="", flush=True)
        if ours.ok and script == "chain.py" and n >= 4:
            # a second run at N/2: the difference is per-step cost without the fixed start-up
            half = best_of(a.repeat, sys.executable, script, n // 2, ours_env, a.ours_cap, work)
            if half.ok:
                ours.marginal_ms = (ours.seconds - half.seconds) / (n - n // 2) * 1000
                if ours.cpu_s is not None and half.cpu_s is not None:
                    ours.marginal_cpu_ms = (ours.cpu_s - half.cpu_s) / (n - n // 2) * 1000
            if a.strace:
                ours.syscalls = syscalls_per_step(sys.executable, n, ours_env, a.ours_cap, work)
        theirs = None
        if pyd_python and with_pydflow:
            print("; pydflow ...", end="", flush=True)
            theirs = run_workload(pyd_python, script, n, pyd_env, cap, work, "pydflow")
            print(f" {_secs(theirs)}", end="", flush=True)
        print(flush=True)
        rows.append((name, n, ours, theirs))
    print()
    print_table(rows, cap)
    for name, n, ours, theirs in rows:
        if name == "(a) chain":
            print_chain_row(head, load.split(",")[0], n, ours, theirs, cap)
    loads = os.getloadavg()
    busy = loads[0] > (os.cpu_count() or 1)
    print(
        f"load average at the end: {', '.join(f'{x:.1f}' for x in loads)}"
        + (
            " (above the CPU count: other work shared the CPUs, the times are inflated)"
            if busy
            else ""
        )
    )
    if a.json:
        a.json.write_text(
            json.dumps(
                [
                    {
                        "workload": r[0],
                        "n": r[1],
                        "ours": attrs.asdict(r[2]),
                        "pydflow": attrs.asdict(r[3]) if r[3] else None,
                    }
                    for r in rows
                ],
                indent=2,
                default=str,
            )
        )
    return 0 if all(r[2].ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

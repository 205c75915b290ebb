"""The file-system calls on a chain step's critical path, from ``strace -f -T`` of a chain.

A chain step's wall time is the runner's gap (from reading step i's answer to sending step
i+1's request: journal, step dir, inputs) and the worker's share (from reading the request to
writing the answer, the OP's own calls left out: from its ``chdir`` into the workdir to the
``chdir`` back). Everything else (the mirror's writer thread, the other worker) runs beside
them. Prints, per step (medians over the second half of the chain), the calls of each side
by kind, with the time strace measured in them (inflated by strace; compare counts, and the
kinds' costs measured without strace in benchmarks/README.md).

    .venv/bin/python benchmarks/_chain_critical_path.py --dir /work/tmp-bench -n 40 [TREE]

Not run by ``run_all.py`` (a leading underscore): a diagnosis, not a benchmark.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHAIN = Path(__file__).resolve().parent / "workloads" / "chain.py"
#: inode-making calls (ext4's costly ones), by how they show in strace
CREATE = ("mkdir", "symlink", "link", "rename", "unlink")


def kind_of(call: str, args: str, ret: str | None) -> str | None:
    """The file-system kind of a call ("mkdir", "create", "open", "stat", ...), None for the
    rest (pipes, epoll, locks)."""
    if call in CREATE:
        return call if ret is None or not ret.startswith("-") else call + " (fails)"
    if call == "openat":
        if "O_CREAT" in args and (ret is None or not ret.startswith("-")):
            return "create"
        return "open"
    if call in ("newfstatat", "statx", "readlink", "getdents64", "chdir", "getcwd"):
        return "stat/readlink/dir"
    if call in ("pwrite64", "ftruncate", "fcntl", "fdatasync", "fsync"):
        return "journal/pwrite"
    return None


def parse(path: Path) -> list[tuple[int, str, str, str | None, float]]:
    """(pid, call, args, return value, seconds) of each finished call, in order; a call that
    strace split (``<unfinished ...>`` / ``<... resumed>``) is joined."""
    out, pending = [], {}
    for raw in path.read_text(errors="replace").splitlines():
        head_m = re.match(r"(\d+)\s+\S+\s+(.*)$", raw)  # "<pid> <time> <call>..."
        if not head_m:
            continue
        pid, body = int(head_m.group(1)), head_m.group(2)
        if body.endswith("<unfinished ...>"):
            pending[pid] = body[: -len("<unfinished ...>")]
            continue
        if body.startswith("<... "):
            head = pending.pop(pid, "")
            m = re.match(r"<\.\.\. (\w+) resumed>(.*)$", body)
            if not m:
                continue
            body = head + m.group(2)
        m = re.match(r"(\w+)\((.*)\) += (-?\d+|\?)[^<]*(?:<([\d.]+)>)?$", body)
        if m:
            out.append((pid, m.group(1), m.group(2), m.group(3), float(m.group(4) or 0)))
    return out


def windows(calls: list, runner: int) -> tuple[list[list], list[list]]:
    """The runner's gaps and the workers' shares, step by step, as lists of calls."""
    gaps, shares = [], []
    gap: list | None = None
    share: dict[int, list] = {}
    in_op: set[int] = set()
    for c in calls:
        pid, call, args, ret, _ = c
        if pid == runner:
            if call == "read" and ret == "4" and gap is None:  # an answer's length header
                gap = []
            elif call == "write" and gap is not None and "template" in args:  # a request
                gaps.append(gap)
                gap = None
            elif gap is not None:
                gap.append(c)
            continue
        if call == "read" and ret == "4" and pid not in share:
            share[pid] = []
        elif pid in share:
            if call == "chdir" and args.endswith('/workdir"'):
                in_op.add(pid)
            elif call == "chdir" and pid in in_op:
                in_op.discard(pid)
            elif call == "write" and "Succeeded" in args:
                shares.append(share.pop(pid))
            elif pid not in in_op:
                share[pid].append(c)
    return gaps, shares


def summary(steps: list[list]) -> dict[str, tuple[float, float]]:
    """kind -> (median count per step, median strace ms per step) over the second half."""
    steps = steps[len(steps) // 2 :]
    kinds: dict[str, list[tuple[int, float]]] = collections.defaultdict(list)
    for step in steps:
        per: dict[str, list[float]] = collections.defaultdict(list)
        for _, call, args, ret, sec in step:
            k = kind_of(call, args, ret)
            if k is not None:
                per[k].append(sec)
        for k in set(per) | set(kinds):
            kinds[k].append((len(per.get(k, [])), sum(per.get(k, [])) * 1e3))
    return {
        k: (statistics.median(n for n, _ in v), statistics.median(t for _, t in v))
        for k, v in kinds.items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("tree", nargs="?", default=".", help="source tree (core/src, plugins/)")
    p.add_argument("--dir", default=tempfile.gettempdir(), help="where the run's dir goes")
    p.add_argument("-n", type=int, default=40, help="steps of the chain")
    p.add_argument("--list", action="store_true", help="also list one step's calls in order")
    a = p.parse_args()
    if shutil.which("strace") is None:
        sys.exit("error: strace is not installed (apt-get install strace)")
    src = Path(a.tree).resolve()
    paths = [src / "core" / "src", *sorted((src / "plugins").glob("*/src"))]
    env = {**os.environ, "DFLOW_MODE": "debug", "PYTHONPATH": os.pathsep.join(map(str, paths))}
    rundir = tempfile.mkdtemp(dir=a.dir, prefix="dflow-critical-")
    trace = Path(rundir) / "strace.txt"
    try:
        subprocess.run(
            ["strace", "-f", "-T", "-tt", "-s", "64", "-o", str(trace)]
            + ["-e", "trace=%file,%desc", sys.executable, str(CHAIN), str(a.n)],
            cwd=rundir,
            env=env,
            check=True,
            capture_output=True,
        )
        calls = parse(trace)
    finally:
        shutil.rmtree(rundir, ignore_errors=True)
    runner = calls[0][0]
    gaps, shares = windows(calls, runner)
    print(f"chain of {a.n} from {src}: {len(gaps)} gaps, {len(shares)} worker shares")
    for label, steps in (("runner gap", gaps), ("worker (OP excluded)", shares)):
        print(f"{label}: per step, median count / strace ms")
        for k, (n, ms) in sorted(summary(steps).items(), key=lambda kv: -kv[1][1]):
            print(f"  {k:<22} {n:5.1f}  {ms:6.3f}")
        if a.list and steps:
            print(f"  step {len(steps) * 3 // 4}, in order (µs in the call, by strace):")
            for _, call, args, ret, sec in steps[len(steps) * 3 // 4]:
                if kind_of(call, args, ret) is not None:
                    where = args.split(",", 2)[1 if call == "openat" else 0][:90]
                    print(f"    {call:<11} {sec * 1e6:7.0f}  {where}")


if __name__ == "__main__":
    main()

"""A pool worker's instructions (or CPU time) per slice of the fan-out workload, for several trees.

The local engine's workers run each slice through ``dflow_engine_local.pool.serve`` and
``dflow.runner.run_op`` (the code an Argo pod runs too). Under the engine the workers cannot be
counted: valgrind follows the fork, but the pool kills its workers at the end and they never
write their counts. So this module serves the slices itself, in one process: it makes N step
dirs as the runner does for ``workloads/fanout.py``'s ``square`` (the sliced list, the
parameter's type file, a link to the list) and calls ``serve`` on each. Instructions per slice
are (I(N2) - I(N1)) / (N2 - N1) under ``valgrind --tool=callgrind`` (user space only; the
making of the dirs is in both counts, so compare trees, not absolute numbers); ``--time``
prints the CPU time per slice instead (user and system, the file system's share included).

    git archive HEAD~3 core/src plugins | (mkdir -p /tmp/before && tar -x -C /tmp/before)
    .venv/bin/python benchmarks/_worker_instructions.py before=/tmp/before after=.
    .venv/bin/python benchmarks/_worker_instructions.py --time --dir /mnt/ext4 before=... after=.

Not run by ``run_all.py`` (a leading underscore): it compares trees, it has no baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _proc import tree_path

WORKLOADS = Path(__file__).resolve().parent / "workloads"


def serve_slices(n: int, base: str) -> float:
    """Serve ``n`` slices of ``square`` in step dirs under ``base``; the CPU seconds taken by
    the serving alone (the dirs are made first)."""
    sys.path.insert(0, str(WORKLOADS))
    from dflow.python import PythonOPTemplate, Slices
    from dflow_engine_local.pool import serve
    from fanout import square  # type: ignore[import-not-found]

    sliced = Slices(input_parameter=["x"], output_parameter=["y"], output_artifact=["out"])
    registry = [PythonOPTemplate(square, image="python:3.8", slices=sliced)]
    store = os.path.join(base, ".files")
    os.makedirs(store)
    items = os.path.join(base, "x")
    Path(items).write_text(json.dumps(list(range(n))))
    requests = []
    for i in range(n):
        step = os.path.join(base, f"square-{i}")
        pars = os.path.join(step, "inputs", "parameters")
        os.makedirs(os.path.join(pars, ".dflow"))
        os.makedirs(os.path.join(step, "inputs", "artifacts"))
        Path(pars, ".dflow", "x").write_text('{"type": "int"}')
        os.symlink(items, os.path.join(pars, "x"))
        workdir = os.path.join(step, "workdir")
        requests.append({
            "template": 0, "inputs_dir": workdir + "/tmp/inputs",
            "outputs_dir": workdir + "/tmp/outputs", "parameters_dir": pars, "workdir": workdir,
            "slice_index": i, "key": None, "workflow_name": "fanout",
            "progress_file": step + "/progress", "success_tag": False,
            "log": step + "/log.txt", "pid_file": step + "/pid", "env": {}, "sys_path": [],
            "cache": None,
        })  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_SELF)
    for request in requests:
        phase = serve(request, registry, store)[0]
        if phase != "Succeeded":
            sys.exit(f"error: slice {request['slice_index']}: {phase}")
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _child(src: Path, n: int, base: str, valgrind: bool) -> str:
    workdir = tempfile.mkdtemp(prefix="worker-", dir=base)
    cmd = [sys.executable, __file__, "--serve", str(n), "--in", workdir]
    if valgrind:
        out = os.path.join(workdir, "callgrind.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd]
    try:
        proc = subprocess.run(
            cmd,
            env=dict(os.environ, PYTHONPATH=tree_path(src)),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"error: serving {n} slices from {src} failed:\n{proc.stderr[-2000:]}")
        return proc.stdout + proc.stderr
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trees", nargs="*", help="label=source tree (a checkout or an archive)")
    ap.add_argument("--sizes", default="200,600", help="the two numbers of slices N1,N2")
    ap.add_argument("--dir", default="/dev/shm", help="where the step dirs go")
    ap.add_argument("--time", action="store_true", help="CPU time per slice, no valgrind")
    ap.add_argument("--rounds", type=int, default=3, help="--time: rounds, trees interleaved")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the child: serve N slices
    ap.add_argument("--in", dest="base", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve is not None:
        print(f"CPU {serve_slices(a.serve, a.base):.6f}")
        return 0
    n1, n2 = (int(x) for x in a.sizes.split(","))
    trees = [(s.partition("=")[0], Path(s.partition("=")[2] or s).resolve()) for s in a.trees]
    if a.time:
        print(f"worker CPU µs per slice, {n2} slices in {a.dir}, {a.rounds} rounds interleaved")
        got: dict[str, list[float]] = {label: [] for label, _ in trees}
        for _ in range(a.rounds):
            for label, src in trees:
                cpu = float(re.search(r"CPU (\S+)", _child(src, n2, a.dir, False)).group(1))  # type: ignore[union-attr]
                got[label].append(cpu / n2 * 1e6)
        for label, values in got.items():
            print(
                f"{label}: median {sorted(values)[len(values) // 2]:.0f} ({', '.join(f'{v:.0f}' for v in values)})"
            )
        return 0
    if shutil.which("valgrind") is None:
        sys.exit("error: valgrind not found (Debian: apt-get install valgrind)")
    print(f"worker instructions per slice, {n1} and {n2} slices in {a.dir}")
    for label, src in trees:
        counts = []
        for n in (n1, n2):
            found = re.search(r"Collected : (\d+)", _child(src, n, a.dir, True))
            if found is None:
                sys.exit("error: no count from callgrind")
            counts.append(int(found.group(1)))
        per_slice = (counts[1] - counts[0]) / (n2 - n1) / 1e6
        print(
            f"{label}: {per_slice:.3f} M per slice ({counts[0]:,} at {n1}, {counts[1]:,} at {n2})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The runner's instructions per slice of the fan-out workload, for several source trees.

On a shared VM a 10,000-way fan-out's wall and CPU time move by 30% between runs of the same
code (the CPU time of the workers moves with it: the machine, not the run), so a change of
5-10% does not show in time. Instructions do: ``valgrind --tool=callgrind`` counts those of the
runner process (user space only, the workers are not traced) and gives the same count for the
same run within about 1%. The count per slice is (I(N2) - I(N1)) / (N2 - N1): start-up,
imports and the run's fixed costs cancel. The kernel's share (the file system) is not in it:
time a run for that (``_chain_interleaved.py``, ``fanout_scaling.py``).

    git archive HEAD~3 core/src plugins | (mkdir -p /tmp/before && tar -x -C /tmp/before)
    .venv/bin/python benchmarks/_runner_instructions.py before=/tmp/before after=.

About 40 s per run under valgrind at the default sizes (200 and 600 slices, on tmpfs).
Not run by ``run_all.py`` (a leading underscore): it compares trees, it has no baseline.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _proc import tree_path

FANOUT = Path(__file__).resolve().parent / "workloads" / "fanout.py"


def instructions(src: Path, n: int, base: str) -> int:
    """Instructions the runner process executed for a fan-out of ``n`` run from ``src``."""
    env = dict(os.environ, DFLOW_MODE="debug", PYTHONPATH=tree_path(src))
    workdir = tempfile.mkdtemp(prefix="instr-", dir=base)
    out = os.path.join(workdir, "callgrind.out")
    try:
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", "--trace-children=no", f"--callgrind-out-file={out}",
             sys.executable, str(FANOUT), str(n)],
            cwd=workdir, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        found = re.search(r"Collected : (\d+)", proc.stderr)
        if proc.returncode != 0 or found is None or '"ok": true' not in proc.stdout:
            sys.exit(f"error: the fan-out of {n} from {src} failed:\n{proc.stderr[-2000:]}")
        return int(found.group(1))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trees", nargs="+", help="label=source tree (a checkout or an archive)")
    ap.add_argument("--sizes", default="200,600", help="the two fan-out sizes N1,N2")
    ap.add_argument("--dir", default="/dev/shm", help="where the runs' dirs go")
    a = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("error: valgrind not found (Debian: apt-get install valgrind)")
    n1, n2 = (int(x) for x in a.sizes.split(","))
    print(f"runner instructions per slice, fan-outs of {n1} and {n2} in {a.dir}")
    for spec in a.trees:
        label, _, path = spec.partition("=")
        src = Path(path or label).resolve()
        i1, i2 = instructions(src, n1, a.dir), instructions(src, n2, a.dir)
        per_slice = (i2 - i1) / (n2 - n1) / 1e6
        print(f"{label}: {per_slice:.3f} M per slice ({i1:,} at {n1}, {i2:,} at {n2})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

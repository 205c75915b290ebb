"""Shared by the benchmarks that run a workload script (not a benchmark itself: run_all skips
``_*.py``): :func:`workload_result` runs one and reads the ``RESULT`` line it prints;
:func:`tree_path` runs dflow from another source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def workload_result(script: Path, n: int, what: str, **run: Any) -> dict:
    """Run ``python script n`` (``run``: ``subprocess.run``'s ``cwd``, ``env``, ``stderr``, ...)
    and return the JSON of its ``RESULT`` line. A failed run, or a wrong result, ends the
    benchmark with an error naming ``what`` and the end of the script's output."""
    run.setdefault("stderr", subprocess.PIPE)
    proc = subprocess.run(
        [sys.executable, str(script), str(n)], stdout=subprocess.PIPE, text=True, check=False, **run
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"error: {what} failed (exit code {proc.returncode}):\n{proc.stdout[-2000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    if not result["ok"]:
        sys.exit(f"error: {what} gave a wrong result: {result}")
    return result


def tree_dirs(src: Path) -> list[Path]:
    """The source dirs of dflow's tree ``src``: ``core/src``, then ``plugins/*/src``."""
    src = Path(src).resolve()
    return [src / "core" / "src", *sorted((src / "plugins").glob("*/src"))]


def tree_path(src: Path) -> str:
    """A ``PYTHONPATH`` running dflow from the source tree ``src`` (a checkout, or ``git
    archive <rev> core/src plugins`` unpacked): its ``core/src`` and ``plugins/*/src`` first,
    this venv's dependencies after. The tree is byte-compiled first (:func:`compile_dirs`)."""
    dirs = [d for d in tree_dirs(src) if d.is_dir()]
    compile_dirs(dirs)
    return os.pathsep.join(str(d) for d in dirs)


def compile_dirs(dirs: list[Path], python: str | None = None) -> None:
    """Byte-compile the Python files below ``dirs``, as an install does. Where imports do not
    write bytecode (``PYTHONDONTWRITEBYTECODE``, set on this machine, or a read-only tree) each
    process compiled every module it imported from source again: 0.2 s of a dflow run, and
    25-40% of a chain under pydflow, whose steps are processes of their own."""
    subprocess.run(
        [python or sys.executable, "-m", "compileall", "-q", "-j", "0", *map(str, dirs)],
        stdout=subprocess.DEVNULL,
        check=False,
    )

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


def tree_path(src: Path) -> str:
    """A ``PYTHONPATH`` running dflow from the source tree ``src`` (a checkout, or ``git
    archive <rev> core/src plugins`` unpacked): its ``core/src`` and ``plugins/*/src`` first,
    this venv's dependencies after."""
    src = Path(src).resolve()
    paths = [src / "core" / "src", *sorted((src / "plugins").glob("*/src"))]
    return os.pathsep.join(str(p) for p in paths)

"""Shared by the benchmarks that run a workload script (not a benchmark itself: run_all skips
``_*.py``): :func:`workload_result` runs one and reads the ``RESULT`` line it prints;
:func:`tree_path` runs dflow from another source tree; :func:`discard` puts a finished run's
dir away until the benchmark ends."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import uuid
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


_trash: list[Path] = []


def discard(path: Path | str) -> None:
    """Remove a finished run's dir when the benchmark ends, not now.

    On an ext4 without a journal (this VM's disk: ``/proc/fs/ext4/<dev>/options``, no
    ``/proc/fs/jbd2/<dev>`` entry) the inode allocator skips each inode freed in the last 30 s
    with one buffer-cache lookup (``recently_deleted`` in fs/ext4/ialloc.c): a run started
    right after the last one's dir was removed made its inodes at half speed (a chain of 100:
    0.29-0.34 s, 0.67 s after a removal). The dir is renamed aside (same file system, no
    inode freed) and removed at exit."""
    path = Path(path)
    if not path.exists():
        return
    trash = path.parent / f".bench-trash-{os.getpid()}"
    if not _trash:
        atexit.register(_empty_trash)
    if trash not in _trash:
        trash.mkdir(exist_ok=True)
        _trash.append(trash)
    path.rename(trash / uuid.uuid4().hex)


def _empty_trash() -> None:
    for trash in _trash:
        shutil.rmtree(trash, ignore_errors=True)

"""Interpreters that stand in for container images in tests.

* :func:`pyenv_python`: the pyenv CPython of a version (``"3.8"``), the interpreter of a bare
  ``python:3.8`` image (run it with ``-I -S`` to hide everything but its standard library);
* :func:`venv_image`: a venv of such an interpreter with packages installed from PyPI (an image
  with, e.g., pydflow), made once under a cache directory and reused.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

#: the Pythons an image may have, which the pod runtime supports
POD_PYTHONS = ("3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13")


def pyenv_python(version: str) -> str | None:
    """The newest pyenv interpreter of ``version`` (``$PYENV_ROOT`` or ``~/.pyenv``), or None."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", "python"))
    found = [
        f
        for f in found
        if os.path.basename(os.path.dirname(os.path.dirname(f))).split(".")[:2]
        == version.split(".")[:2]
    ]
    if not found:
        return None
    return max(found, key=lambda f: [int(x) for x in f.split("/")[-3].split(".") if x.isdigit()])


def venv_image(python: str, packages: Sequence[str], cache: Path | str) -> str:
    """The interpreter of a venv of ``python`` with ``packages`` pip-installed, made once
    under ``cache`` (a lock keeps parallel test runs from building it twice)."""
    home = Path(cache)
    done = home / ".complete"
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(home.parent / f".{home.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists() or done.read_text() != " ".join(packages):
            shutil.rmtree(home, ignore_errors=True)
            subprocess.run([python, "-m", "venv", str(home)], check=True)
            proc = subprocess.run(
                [
                    str(home / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    *packages,
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                raise RuntimeError(
                    f"pip install {' '.join(packages)} into {home} failed:\n{proc.stderr[-3000:]}"
                )
            done.write_text(" ".join(packages))
    return str(home / "bin" / "python")

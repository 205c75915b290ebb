"""Fixtures: the shared real Slurm, an sshd in front of it, and a ScriptJob factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from dflow.executor import ScriptJob
from dflow.testing.slurm_fixtures import (  # noqa: F401 - fixtures used by the tests
    job_home,
    local_slurm,
    make_script_job,
    slurm_sshd,
)

# Reads input.txt, writes out/result.txt, prints to stdout and stderr.
SCRIPT = """\
import os, sys
text = open("input.txt").read()
os.makedirs("out", exist_ok=True)
open("out/result.txt", "w").write(text.upper())
print("hello", os.environ.get("GREETING"), os.environ.get("DFLOW_POD"))
print("to stderr", file=sys.stderr)
"""


@pytest.fixture(autouse=True)
def _isolated_home(job_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(job_home))


@pytest.fixture
def make_job(tmp_path: Path) -> Callable[..., ScriptJob]:
    """ScriptJob factory: a Python script (``SCRIPT`` unless given) with one input file."""

    def make(name: str = "step", script: str = SCRIPT, **kwargs: object) -> ScriptJob:
        kwargs.setdefault("env", {"GREETING": "hi"})
        kwargs.setdefault("command", ("python3",))
        return make_script_job(tmp_path, name, script, **kwargs)

    return make

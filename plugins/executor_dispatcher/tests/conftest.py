"""Fixtures: the shared real Slurm, an sshd in front of it, and a ScriptJob factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dflow.executor import ScriptJob
from dflow.testing.slurm import LocalSlurm, LocalSshd, shared_local_slurm

# Reads input.txt, writes out/result.txt, prints to stdout and stderr.
SCRIPT = """\
import os, sys
text = open("input.txt").read()
os.makedirs("out", exist_ok=True)
open("out/result.txt", "w").write(text.upper())
print("hello", os.environ.get("GREETING"), os.environ.get("DFLOW_POD"))
print("to stderr", file=sys.stderr)
"""


@pytest.fixture(scope="session")
def local_slurm() -> Iterator[LocalSlurm]:
    with shared_local_slurm() as slurm:
        yield slurm


@pytest.fixture(scope="session")
def job_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty HOME for jobs: batch scripts run login shells (``#!/bin/bash -l``), which
    must not depend on (or wait for) the developer's own dotfiles."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(autouse=True)
def _isolated_home(job_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(job_home))


@pytest.fixture(scope="session")
def slurm_sshd(local_slurm: LocalSlurm, job_home: Path) -> Iterator[LocalSshd]:
    with LocalSshd(env={**local_slurm.env, "HOME": str(job_home)}) as sshd:
        yield sshd


@pytest.fixture
def make_job(tmp_path: Path) -> Callable[..., ScriptJob]:
    """ScriptJob factory: a Python script (``SCRIPT`` unless given) with one input file."""

    def make(name: str = "step", script: str = SCRIPT, **kwargs: object) -> ScriptJob:
        workdir = tmp_path / name / "workdir"
        workdir.mkdir(parents=True)
        (workdir / "input.txt").write_text("payload of " + name)
        script_path = tmp_path / name / "script.py"
        script_path.write_text(script)
        fields: dict[str, object] = dict(
            name=name, workflow_id="wf-test", script_path=script_path, command=("python3",),
            workdir=workdir, log_path=tmp_path / name / "log.txt", env={"GREETING": "hi"},
            inputs=("input.txt",), outputs=("out",),
        )
        fields.update(kwargs)
        return ScriptJob(**fields)  # type: ignore[arg-type]

    return make

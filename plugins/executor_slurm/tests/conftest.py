"""Fixtures: a real one-node Slurm (started once per session) and an sshd in front of it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dflow.executor import ScriptJob
from dflow.testing.slurm import LocalSlurm, LocalSshd, shared_local_slurm

# Reads input.txt from the work directory, writes out/result.txt, prints to stdout and stderr.
SCRIPT = """\
import sys
text = open("input.txt").read()
import os
os.makedirs("out", exist_ok=True)
open("out/result.txt", "w").write(text.upper())
print("hello from", os.environ.get("SLURM_JOB_ID"), os.environ.get("GREETING"))
print("to stderr", file=sys.stderr)
"""


@pytest.fixture(scope="session")
def local_slurm() -> Iterator[LocalSlurm]:
    with shared_local_slurm() as slurm:
        yield slurm


@pytest.fixture(scope="session")
def slurm_sshd(local_slurm: LocalSlurm) -> Iterator[LocalSshd]:
    with LocalSshd(env=local_slurm.env) as sshd:
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
            name=name, workflow_id="wf-test", script_path=script_path,
            command=(os.environ.get("DFLOW_TEST_PYTHON", "python3"),), workdir=workdir,
            log_path=tmp_path / name / "log.txt", env={"GREETING": "hi there"},
            inputs=("input.txt",), outputs=("out",),
        )
        fields.update(kwargs)
        return ScriptJob(**fields)  # type: ignore[arg-type]

    return make

"""pytest fixtures around :mod:`dflow.testing.slurm`, shared by every test tree that runs jobs.

Import the ones you need into a ``conftest.py``::

    from dflow.testing.slurm_fixtures import job_home, local_slurm, slurm_sshd  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..executor import ScriptJob
from .slurm import LocalSlurm, LocalSshd, shared_local_slurm


@pytest.fixture(scope="session")
def local_slurm() -> Iterator[LocalSlurm]:
    """The process-wide throwaway Slurm (``SLURM_CONF`` set in ``os.environ`` while it runs)."""
    with shared_local_slurm() as slurm:
        yield slurm


@pytest.fixture(scope="session")
def job_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty HOME for jobs: batch scripts run login shells (``#!/bin/bash -l``), which
    must not depend on (or wait for) the developer's own dotfiles."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def slurm_sshd(local_slurm: LocalSlurm, job_home: Path) -> Iterator[LocalSshd]:
    """An sshd on 127.0.0.1 in front of the local Slurm."""
    with LocalSshd(env={**local_slurm.env, "HOME": str(job_home)}) as sshd:
        yield sshd


def make_script_job(
    root: Path,
    name: str,
    script: str,
    command: tuple[str, ...] = ("python3",),
    env: dict[str, str] | None = None,
    **kwargs: object,
) -> ScriptJob:
    """A ScriptJob whose workdir under ``root/name`` holds ``input.txt`` and which brings
    back ``out``; ``kwargs`` override any ScriptJob field."""
    workdir = root / name / "workdir"
    workdir.mkdir(parents=True)
    (workdir / "input.txt").write_text("payload of " + name)
    script_path = root / name / "script.py"
    script_path.write_text(script)
    fields: dict[str, object] = dict(
        name=name,
        workflow_id="wf-test",
        script_path=script_path,
        command=command,
        workdir=workdir,
        log_path=root / name / "log.txt",
        env=env or {},
        inputs=("input.txt",),
        outputs=("out",),
    )
    fields.update(kwargs)
    return ScriptJob(**fields)  # type: ignore[arg-type]

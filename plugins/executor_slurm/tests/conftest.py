"""Fixtures: a real one-node Slurm (started once per session) and an sshd in front of it."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from dflow.executor import ScriptJob
from dflow.testing.slurm import LocalSlurm
from dflow.testing.slurm_fixtures import (  # noqa: F401 - fixtures used by the tests
    job_home,
    local_slurm,
    make_script_job,
    slurm_sshd,
)

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


@pytest.fixture(autouse=True)
def _isolated_home(job_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(job_home))


@pytest.fixture
def make_job(tmp_path: Path) -> Callable[..., ScriptJob]:
    """ScriptJob factory: a Python script (``SCRIPT`` unless given) with one input file."""

    def make(name: str = "step", script: str = SCRIPT, **kwargs: object) -> ScriptJob:
        kwargs.setdefault("env", {"GREETING": "hi there"})
        kwargs.setdefault("command", (os.environ.get("DFLOW_TEST_PYTHON", "python3"),))
        return make_script_job(tmp_path, name, script, **kwargs)

    return make


def _submitted_id(log_path: Path, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path.exists():
            found = re.search(r"submitted Slurm job (\d+)", log_path.read_text())
            if found:
                return found.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no job id in {log_path}")


@pytest.fixture
def submitted_id() -> Callable[..., str]:
    """Wait for the Slurm job id an executor writes to a step log, and return it."""
    return _submitted_id


@pytest.fixture(scope="session", autouse=True)
def time_limited_job(local_slurm: LocalSlurm, tmp_path_factory: pytest.TempPathFactory):
    """A job over its ``#SBATCH --time=1`` limit, started when this plugin's tests start.

    Slurm counts time limits in minutes and checks them every 30 s, so reaching TIMEOUT takes
    60-90 s: the job runs in the background while the other tests run, and
    ``test_time_limit.py`` (run after the other plugins' tests:
    ``pytest_collection_modifyitems``) collects its result.
    """
    from dflow_executor_slurm import SlurmJobTemplate

    root = tmp_path_factory.mktemp("time-limit")
    script = root / "script.sh"
    script.write_text("echo started\nsleep 300\n")
    job = ScriptJob(
        name="over-time",
        workflow_id="wf-test",
        script_path=script,
        command=("bash",),
        workdir=root,
        log_path=root / "log.txt",
    )
    results: list = []
    executor = SlurmJobTemplate(header="#SBATCH --time=1")
    thread = threading.Thread(target=lambda: results.append(executor.run(job)), daemon=True)
    thread.start()
    yield job, thread, results
    job.cancelled.set()
    thread.join(60)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move ``test_time_limit.py`` after the last test of the plugins' directories: run right
    after this plugin's other tests (10 s), it waited about a minute for its job's TIMEOUT.
    Not later: tests of the whole system (``tests/fault/test_dispatcher_resume.py``) need the
    cluster's queue empty."""
    here = Path(__file__).parent
    plugins = here.parent.parent
    moved = [item for item in items if item.path == here / "test_time_limit.py"]
    if not moved:
        return
    rest = [item for item in items if item not in moved]
    at = max((i + 1 for i, item in enumerate(rest) if item.path.is_relative_to(plugins)), default=0)
    items[:] = rest[:at] + moved + rest[at:]

"""The fault suite: runs killed at random points, leaked and deaf processes, a full disk."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from fault_helpers import kill_all, under  # noqa: E402


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.fault)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Workflows run on the local engine under ``tmp_path/work`` (also the current directory):
    ``tmp_path`` around it is where anything escaping the workdir would land."""
    from dflow.config import config

    saved = dict(config)
    work = tmp_path / "work"
    work.mkdir()
    config["mode"] = "local"
    config["debug_workdir"] = str(work)
    config["debug_pool_workers"] = 2
    monkeypatch.chdir(work)
    yield work
    try:
        from dflow_engine_local.engine import LocalEngine
        from dflow_engine_local.run import is_running

        for wf_dir in work.iterdir():  # a failed assertion can leave a run behind
            if (wf_dir / "journal.db").exists() and is_running(str(wf_dir)):
                LocalEngine().terminate(wf_dir.name)
    finally:
        config.clear()
        config.update(saved)
        kill_all(under(tmp_path))  # a failing test must not leak its processes

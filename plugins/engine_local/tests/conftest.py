"""Fixtures of the local engine tests: a fresh workdir and engine per test."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # the shared OPs (local_engine_ops)


def _stop_stray_runners(root: str) -> None:
    """Terminate background runs a test left behind (a failed assertion mid-run)."""
    from dflow_engine_local.engine import LocalEngine
    from dflow_engine_local.run import is_running

    engine = LocalEngine()
    for name in os.listdir(root):
        wf_dir = os.path.join(root, name)
        if os.path.exists(os.path.join(wf_dir, "journal.db")) and is_running(wf_dir):
            engine.terminate(name)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run workflows under ``tmp_path`` with the local engine; restore config after."""
    from dflow.config import config

    saved = dict(config)
    config["mode"] = "local"
    config["debug_workdir"] = str(tmp_path)
    config["debug_pool_workers"] = 2
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    try:
        _stop_stray_runners(str(tmp_path))
    finally:
        config.clear()
        config.update(saved)

"""Fixtures of the local engine tests: a fresh workdir and engine per test."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # the shared OPs (local_engine_ops)


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
    config.clear()
    config.update(saved)

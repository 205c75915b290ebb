"""Cross-distribution tests: the examples, run for real on the local engine."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    """Import ``examples/<name>.py`` as a module (its ``__main__`` block does not run)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example():
    """``example("loops")`` imports ``examples/loops.py``."""
    return load_example


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in a fresh directory with the local engine."""
    monkeypatch.chdir(tmp_path)
    from dflow import config

    monkeypatch.setitem(config, "mode", "debug")
    return tmp_path

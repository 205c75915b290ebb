"""Fixtures of the pod-runtime tests: pyenv interpreters and the shipped runtime directory."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # runtime_scenarios, runtime_ops (--import-mode=importlib)


@pytest.fixture(scope="session")
def runtime_packages(tmp_path_factory) -> str:
    """A packages directory holding a copy of the pod runtime only (real files, as a pod
    downloads them)."""
    from dflow.shipping.runtime import runtime_dir

    packages = tmp_path_factory.mktemp("packages")
    shutil.copytree(runtime_dir(), packages / "dflow")
    return str(packages)

"""Images of the pod-runtime tests: ``python:3.x`` is a pyenv interpreter, and a pydflow
image a venv of it with ``pip install pydflow==1.8.134``, built once under ``.work/images``."""

from __future__ import annotations

from pathlib import Path

import pytest
from dflow.testing.pythons import pyenv_python, venv_image

REPO = Path(__file__).resolve().parents[4]
PYDFLOW = "pydflow==1.8.134"


def python_image(version: str) -> str:
    """The interpreter of a bare ``python:<version>`` image (skipped, not passed, without)."""
    python = pyenv_python(version)
    if python is None:
        pytest.skip(f"no pyenv Python {version}")
    return python


def pydflow_image(version: str) -> str:
    """The interpreter of ``python:<version>`` with pydflow 1.8.134 installed."""
    cache = REPO / ".work" / "images" / f"pydflow-1.8.134-py{version}"
    return venv_image(python_image(version), [PYDFLOW], cache)

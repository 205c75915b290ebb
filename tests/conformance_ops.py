"""OPs of the acceptance tests (test_conformance.py), in a module of their own.

Argo pods import an OP's module: this one imports only dflow, so it runs in an image that
has nothing else (the test module itself imports pytest, which no image has).
"""

from __future__ import annotations

from pathlib import Path

from dflow.python import OP, Artifact


@OP.function
def maybe_read(data: Artifact(Path, optional=True)) -> {"got": str}:
    """Read an optional input artifact, or say that there was none."""
    return {"got": Path(data).read_text() if data else "nothing"}

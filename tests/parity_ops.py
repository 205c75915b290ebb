"""OPs of ``test_engine_parity.py``, shipped to the Argo sandbox as their own module."""

from __future__ import annotations

from pathlib import Path

from dflow.python import OP, Artifact


@OP.function
def where_is(file: Artifact(Path)) -> {"name": str, "text": str, "where": str}:
    """The item's file name, its text, and its path below ``inputs/artifacts/``."""
    return {"name": Path(file).name, "text": Path(file).read_text(),
            "where": str(file).split("/inputs/artifacts/", 1)[1]}

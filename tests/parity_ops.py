"""OPs of ``test_engine_parity.py``, shipped to the Argo sandbox as their own module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List  # noqa: UP035 - pods may run a Python older than 3.9

from dflow.python import OP, Artifact, BigParameter


@OP.function
def where_is(file: Artifact(Path)) -> {"name": str, "text": str, "where": str}:
    """The item's file name, its text, and its path below ``inputs/artifacts/``."""
    return {
        "name": Path(file).name,
        "text": Path(file).read_text(),
        "where": str(file).split("/inputs/artifacts/", 1)[1],
    }


@OP.function
def joined(names: list, texts: list, wheres: list) -> {"summary": str}:
    """The stacked outputs of a fan-out, one ``name:text:where`` per item."""
    # (no zip(strict=): pods may run a Python older than 3.10)
    return {"summary": ",".join(f"{n}:{t}:{w}" for n, t, w in zip(names, texts, wheres))}  # noqa: B905


@OP.function
def written(name: str) -> {"file": Artifact(Path)}:
    """A file ``name`` holding its own name."""
    Path(name).write_text(name)
    return {"file": Path(name)}


@OP.function
def listed(files: Artifact(List[Path])) -> {"names": str}:  # noqa: UP006
    """The names of the files a fan-out stacked, in order (``[]`` when it had no items)."""
    return {"names": json.dumps([Path(f).name for f in files])}


@OP.function
def doubled(foo: BigParameter(str)) -> {"foo": BigParameter(str)}:
    """``foo`` twice, in and out as big parameters (files on Argo)."""
    return {"foo": foo * 2}

"""Module-level queries of pydflow, delegated to the configured engine."""

from __future__ import annotations

from typing import Any


def query_workflows(labels: dict[str, str] | None = None, fields: Any = None) -> list:
    """Workflows of the configured engine, filtered by labels."""
    from .backends import get_engine

    return get_engine().query_workflows(labels)


def query_archived_workflows(labels: dict[str, str] | None = None, id: str | None = None) -> list:  # noqa: A002
    """Archived workflows (Argo)."""
    from .backends import get_engine

    return get_engine().query_archived_workflows(labels, id)


def gen_code(graph: Any) -> str:
    """pydflow's graph-to-code generator: not part of this release."""
    raise NotImplementedError(
        "gen_code (dflow's graph format -> Python) is not supported; build workflows in Python"
    )

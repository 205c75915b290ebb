"""Module-level queries of pydflow, delegated to the configured engine."""

from __future__ import annotations

from typing import Any

from ._compat import refused_function


def query_workflows(labels: dict[str, str] | None = None, fields: Any = None) -> list:
    """Workflows of the configured engine, filtered by labels."""
    from .backends import get_engine

    return get_engine().query_workflows(labels)


def query_archived_workflows(labels: dict[str, str] | None = None, id: str | None = None) -> list:
    """Archived workflows (Argo)."""
    from .backends import get_engine

    return get_engine().query_archived_workflows(labels, id)


gen_code = refused_function(
    "dflow.gen_code",
    "dflow has no graph format to generate code from; write the workflow in Python, or keep "
    "its Argo manifest (Workflow.to_yaml() / Workflow.from_yaml())",
)

"""Names that become paths: workflow ids and rendered step keys.

A workflow id names the run's directory (the local engine's ``<workdir>/<id>``, Argo's
``metadata.name``) and a step key names its step's directory, so both must be one safe path
component: never ``.``, ``..``, ``/`` or empty. The rules are Kubernetes' (an id is a lower-case
RFC 1123 subdomain, at most 253 characters: Argo's ``metadata.name``), checked at every entry
point: ``Workflow(id=)``, every engine method taking an id (:class:`dflow.engine.Engine`
checks them before an engine plugin runs), the CLI, and keys once rendered at run time (the
local engine before it makes a step directory, the pod runner before it runs the OP).

Part of the pod runtime: standard library only, Python 3.7+.
"""

from __future__ import annotations

import re
from typing import Any

#: a lower-case RFC 1123 subdomain (Kubernetes' object names, Argo's workflow names)
SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
#: a step key once its ``{{...}}`` parts are filled in; pydflow accepted a trailing '-'
#: ("iter-"), so we do too
KEY_RE = re.compile(r"^[a-z0-9][-a-z0-9.]*$")
#: Kubernetes' limit for an object name (DNS-1123 subdomain), below NAME_MAX (255)
MAX_NAME = 253


def workflow_id_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid workflow id, or None."""
    if not isinstance(value, str):
        return f"workflow id must be a string, got {type(value).__name__} {value!r:.60}"
    if len(value) > MAX_NAME or not SUBDOMAIN_RE.match(value):
        return (
            f"workflow id {value!r:.300} is invalid: an id is a lower-case RFC 1123 name of at "
            f"most {MAX_NAME} characters (letters, digits, '-' and '.', starting and ending "
            "with a letter or digit), as Workflow.id / submit() returned it"
        )
    return None


def check_workflow_id(value: Any, where: str) -> str:
    """``value`` if it is a valid workflow id; else ValueError naming ``where``."""
    problem = workflow_id_problem(value)
    if problem is not None:
        raise ValueError(f"{where}: {problem}")
    return value


def rendered_key_problem(value: Any) -> str | None:
    """Why the rendered step key ``value`` cannot name a step, or None."""
    if not isinstance(value, str) or len(value) > MAX_NAME or not KEY_RE.match(value):
        return (
            f"step key {value!r:.300} (after filling in its {{{{...}}}} parts) is invalid: a "
            f"key is lower-case letters, digits, '-' and '.', starting with a letter or digit, "
            f"at most {MAX_NAME} characters; check the values the key is built from"
        )
    return None


def check_rendered_key(value: Any, where: str) -> str:
    """``value`` if it is a valid rendered step key; else ValueError naming ``where``."""
    problem = rendered_key_problem(value)
    if problem is not None:
        raise ValueError(f"{where}: {problem}")
    return value


__all__ = [
    "KEY_RE",
    "MAX_NAME",
    "SUBDOMAIN_RE",
    "check_rendered_key",
    "check_workflow_id",
    "rendered_key_problem",
    "workflow_id_problem",
]

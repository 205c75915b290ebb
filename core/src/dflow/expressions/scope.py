"""Looking dotted variable paths up in a scope, with messages that name what is known.

A scope is a nested plain mapping such as ``{"inputs": {"parameters": {"x": "3"}},
"steps": {"hello": {"outputs": {...}, "status": "Succeeded"}}, "item": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import UnknownVariable
from .values import go_type

_MAX_KNOWN = 20


def known_names(container: Any) -> str:
    """'a, b, c' (sorted, truncated) or 'none' for the keys of a mapping."""
    if not isinstance(container, Mapping) or not container:
        return "none"
    names = sorted(str(k) for k in container)
    shown = ", ".join(names[:_MAX_KNOWN])
    if len(names) > _MAX_KNOWN:
        shown += f", ... ({len(names) - _MAX_KNOWN} more)"
    return shown


def missing_message(parents: Sequence[str], key: str, container: Any) -> str:
    """Describe a missing ``key`` under the path ``parents`` in user terms."""
    known = f"(known: {known_names(container)})"
    depth = len(parents)
    if depth == 0:
        return f"unknown variable {key!r} {known}"
    head = parents[0]
    if depth == 1 and head in ("steps", "tasks"):
        return f"no {head[:-1]} {key!r} in scope {known}"
    if depth == 2 and head in ("inputs", "outputs") and parents[1] in ("parameters", "artifacts"):
        return f"no {head[:-1]} {parents[1][:-1]} {key!r} {known}"
    if depth == 2 and head == "workflow" and parents[1] == "parameters":
        return f"no workflow parameter {key!r} {known}"
    if (
        depth == 4
        and head in ("steps", "tasks")
        and parents[2] == "outputs"
        and parents[3] in ("parameters", "artifacts")
    ):
        return f"{head[:-1]} {parents[1]!r} has no output {parents[3][:-1]} {key!r} {known}"
    if depth == 2 and head in ("steps", "tasks"):
        return f"{head[:-1]} {parents[1]!r} has no {key!r} {known}"
    return f"no {key!r} in {'.'.join(parents)} {known}"


def lookup_path(scope: Mapping, parts: Sequence[str]) -> Any:
    """Resolve ``parts`` (e.g. ``["steps", "hello", "outputs", "parameters", "msg"]``).

    Raises UnknownVariable naming the first missing segment and what is known there.
    """
    value: Any = scope
    for depth, part in enumerate(parts):
        if isinstance(value, Mapping):
            if part not in value:
                raise UnknownVariable(missing_message(parts[:depth], part, value))
            value = value[part]
        elif isinstance(value, list | tuple) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(value) <= index < len(value):
                raise UnknownVariable(
                    f"index {index} out of range in {'.'.join(parts[:depth])} "
                    f"(array length is {len(value)})"
                )
            value = value[index]
        else:
            raise UnknownVariable(
                f"cannot read {part!r} of {'.'.join(parts[:depth])}: it is a "
                f"{go_type(value)}, not a map"
            )
    return value

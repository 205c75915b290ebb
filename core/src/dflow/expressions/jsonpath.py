"""A small JSONPath for Argo's ``jsonpath(jsonString, path)`` expression function.

Supported: ``$``, ``.name``, ``['name']``, ``[i]`` (negative from the end), ``[*]``/``.*``,
``[a:b]``/``[a:b:step]``, unions ``[0,2]``/``['a','b']`` and recursive ``..name``. A path
made only of names and single indexes yields one value (missing keys are errors); any
wildcard, slice, union or recursive step yields a list of matches, as in Argo's library.
Filters (``[?(...)]``) and scripts are not supported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import Problem

_NAME = re.compile(r"[^.\[\]\s]+")
_INDEX = re.compile(r"\s*(-?\d+)\s*\Z")
_SLICE = re.compile(r"\s*(-?\d*)\s*:\s*(-?\d*)\s*(?::\s*(-?\d*)\s*)?\Z")
_QUOTED = re.compile(r"\s*(['\"])(.*?)\1\s*\Z")


def _segments(path: str) -> list[tuple[str, Any]]:
    """Split a path into (kind, arg) steps: name, index, wild, slice, union, recurse."""
    if not path.startswith("$"):
        raise Problem(f"jsonpath {path!r}: a path must start with '$'")
    steps: list[tuple[str, Any]] = []
    i = 1
    while i < len(path):
        if path.startswith("..", i):
            steps.append(("recurse", None))
            i += 2
            if i < len(path) and path[i] == "[":
                continue
            match = _NAME.match(path, i)
            if not match:
                raise Problem(f"jsonpath {path!r}: expected a name after '..'")
            steps.append(("wild", None) if match.group() == "*" else ("name", match.group()))
            i = match.end()
        elif path[i] == ".":
            match = _NAME.match(path, i + 1)
            if not match:
                raise Problem(f"jsonpath {path!r}: expected a name after '.' at {i}")
            steps.append(("wild", None) if match.group() == "*" else ("name", match.group()))
            i = match.end()
        elif path[i] == "[":
            end = path.find("]", i)
            if end < 0:
                raise Problem(f"jsonpath {path!r}: unclosed '['")
            steps.append(_bracket(path, path[i + 1 : end]))
            i = end + 1
        else:
            raise Problem(f"jsonpath {path!r}: unexpected {path[i]!r} at {i}")
    return steps


def _bracket(path: str, inner: str) -> tuple[str, Any]:
    if inner.strip() == "*":
        return ("wild", None)
    if inner.lstrip().startswith("?") or inner.lstrip().startswith("("):
        raise Problem(f"jsonpath {path!r}: filter and script expressions are not supported")
    if match := _INDEX.match(inner):
        return ("index", int(match.group(1)))
    if match := _QUOTED.match(inner):
        return ("name", match.group(2))
    if match := _SLICE.match(inner):
        start, stop, step = (int(g) if g else None for g in match.groups())
        return ("slice", slice(start, stop, step))
    parts = [p for p in inner.split(",")]
    keys: list[Any] = []
    for part in parts:
        if match := _INDEX.match(part):
            keys.append(int(match.group(1)))
        elif match := _QUOTED.match(part):
            keys.append(match.group(2))
        else:
            raise Problem(f"jsonpath {path!r}: cannot read [{inner}]")
    return ("union", keys)


def _descendants(value: Any) -> list:
    out = [value]
    children = value.values() if isinstance(value, Mapping) else value
    if isinstance(value, Mapping | list):
        for child in children:
            out.extend(_descendants(child))
    return out


def _pick(value: Any, key: Any, path: str, strict: bool) -> list:
    if isinstance(key, str):
        if isinstance(value, Mapping) and key in value:
            return [value[key]]
        if strict:
            raise Problem(f"jsonpath {path!r}: key {key!r} not found")
        return []
    if isinstance(value, list) and -len(value) <= key < len(value):
        return [value[key]]
    if strict:
        raise Problem(f"jsonpath {path!r}: index {key} out of range")
    return []


def query(data: Any, path: str) -> Any:
    """Evaluate ``path`` against parsed JSON ``data``."""
    steps = _segments(path.strip())
    definite = all(kind in ("name", "index") for kind, _ in steps)
    current = [data]
    for kind, arg in steps:
        following: list = []
        for value in current:
            if kind in ("name", "index"):
                following.extend(_pick(value, arg, path, strict=definite))
            elif kind == "wild":
                if isinstance(value, Mapping):
                    following.extend(value[k] for k in sorted(value))
                elif isinstance(value, list):
                    following.extend(value)
            elif kind == "slice":
                if isinstance(value, list):
                    following.extend(value[arg])
            elif kind == "union":
                for key in arg:
                    following.extend(_pick(value, key, path, strict=False))
            elif kind == "recurse":
                following.extend(_descendants(value))
        current = following
    return current[0] if definite else current

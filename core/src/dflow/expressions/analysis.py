"""Walking an expression AST for the dotted variable paths it reads."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from . import nodes as n
from .parser import parse

# Names that are never scope variables.
_NOT_VARIABLES = frozenset({"sprig", "$env"})


def _chain(node: Any) -> tuple[Any, list[Any]]:
    """Unwind ``a.b['c'][x]`` into its root and the list of Member nodes, root first."""
    members: list[Any] = []
    while isinstance(node, n.Member):
        members.append(node)
        node = node.obj
    return node, members[::-1]


def _collect(node: Any, bound: frozenset[str], out: set[str]) -> None:
    if isinstance(node, n.Member):
        root, members = _chain(node)
        static = isinstance(root, n.Identifier) and root.name not in bound | _NOT_VARIABLES
        parts = [root.name] if static else []
        for member in members:
            key = member.key
            if static and isinstance(key, n.Literal) and isinstance(key.value, str | int):
                parts.append(str(key.value))
            else:
                static = False
                _collect(key, bound, out)
        if parts:
            out.add(".".join(parts))
        elif not isinstance(root, n.Identifier):
            _collect(root, bound, out)
        return
    if isinstance(node, n.Identifier):
        if node.name not in bound and node.name not in _NOT_VARIABLES:
            out.add(node.name)
        return
    if isinstance(node, n.Call):
        if isinstance(node.callee, n.Member):
            root, _ = _chain(node.callee)
            if not (isinstance(root, n.Identifier) and root.name == "sprig"):
                _collect(node.callee.obj, bound, out)
        for arg in node.args:
            _collect(arg, bound, out)
        return
    if isinstance(node, n.Let):
        _collect(node.value, bound, out)
        _collect(node.body, bound | {node.name}, out)
        return
    if isinstance(node, n.MapLit):
        for key, value in node.pairs:
            _collect(key, bound, out)
            _collect(value, bound, out)
        return
    if isinstance(node, n.ArrayLit):
        for item in node.items:
            _collect(item, bound, out)
        return
    for child in (
        getattr(node, name, None)
        for name in (
            "operand",
            "left",
            "right",
            "cond",
            "then",
            "otherwise",
            "body",
            "obj",
            "start",
            "stop",
        )
    ):
        if child is not None:
            _collect(child, bound, out)


@lru_cache(maxsize=4096)
def read_paths(expression: str) -> frozenset[str]:
    """Dotted paths read by one expression (cached); raises Problem for bad syntax."""
    out: set[str] = set()
    _collect(parse(expression), frozenset(), out)
    return frozenset(out)


@lru_cache(maxsize=4096)
def free_variables(expression: str) -> tuple[str, ...]:
    """Top-level names an expression reads from its scope, in sorted order."""
    return tuple(sorted({path.split(".", 1)[0] for path in read_paths(expression)}))

"""Static analysis: which dotted variable paths does a template or expression read?"""

from __future__ import annotations

from typing import Any

from . import nodes as n
from .errors import ExpressionError, Problem, describe_position
from .parser import parse
from .template import scan_or_raise

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


def expression_names(expression: str) -> set[str]:
    """Dotted paths read by one expr-lang expression (no braces)."""
    try:
        node = parse(expression)
    except Problem as exc:
        where = describe_position(expression, exc.position)
        raise ExpressionError(expression, exc.message + where, exc.position, what="parse")
    out: set[str] = set()
    _collect(node, frozenset(), out)
    return out


def variables(text: str) -> list[str]:
    """The ``{{...}}`` tags in ``text``, in order: paths for simple tags, ``=expr`` for others."""
    if "{{" not in text:
        return []
    return [
        seg.body if seg.kind == "simple" else "=" + seg.body
        for seg in scan_or_raise(text)
        if seg.kind != "text"
    ]


def referenced_names(expr_or_text: str) -> set[str]:
    """Dotted variable paths read by a template (text with tags) or a bare expression.

    ``"{{steps.hello.outputs.parameters.msg}}"`` and
    ``"steps['hello'].outputs.parameters['msg']"`` both give
    ``{"steps.hello.outputs.parameters.msg"}``; a path stops at the first dynamic index
    (``steps[x].outputs`` gives ``steps`` plus what ``x`` reads). ``#`` and function names
    are not variables.
    """
    if "{{" not in expr_or_text:
        return expression_names(expr_or_text)
    out: set[str] = set()
    for segment in scan_or_raise(expr_or_text):
        if segment.kind == "simple" and segment.body:
            out.add(segment.body)
        elif segment.kind == "expr":
            out |= expression_names(segment.body)
    return out

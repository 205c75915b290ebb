"""Finding and substituting ``{{...}}`` tags in text (Argo's template tags).

Two kinds of tag, as in Argo: simple ``{{inputs.parameters.x}}`` (a dotted path looked up
in the scope, white space around it ignored) and expression ``{{=expr}}`` (expr-lang).
The end of an expression tag is found by scanning the expression, skipping string
literals and counting braces, so map literals and predicates inside it
(``{{=map(xs, {{'order': #}})}}``) do not end the tag early.

Every top-level name an expression reads must be in the scope, even in a branch that is
never taken (Argo compiles expressions against its variables first); a missing key deeper
in a scope path is an error too, except under ``??`` or ``?.``.

Rendering a value follows Argo (``json.Marshal`` of the result): strings are inserted as
they are, ``true``/``false`` for bools, integers as digits, floats in Go's shortest form
(``1`` for 1.0, ``0.5``, ``1e+21``), lists and maps as compact JSON with sorted keys. A nil
result, NaN or an infinity (``1/0``) is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from .errors import ExpressionError, Problem, UnknownVariable, describe_position
from .scope import lookup_path, missing_message
from .values import go_json, go_sprint


class Segment(NamedTuple):
    kind: str  # "text", "simple" or "expr"
    body: str  # literal text, the dotted path, or the expression (without "=")
    raw: str  # the tag as written, e.g. "{{=a + 1}}"


def _expression_end(text: str, start: int) -> int | None:
    """Index of the ``}}`` closing an expression tag whose body starts at ``start``."""
    depth = 0
    i = start
    n = len(text)
    while i < n:
        char = text[i]
        if char in "'\"`":
            i += 1
            while i < n and text[i] != char:
                i += 2 if text[i] == "\\" and char != "`" else 1
        elif depth == 0 and text.startswith("}}", i):
            return i
        elif char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        i += 1
    return None


@lru_cache(maxsize=4096)
def scan(text: str) -> tuple[Segment, ...]:
    """Split ``text`` into literal text and tags; raises Problem for an unclosed tag."""
    segments: list[Segment] = []
    i = 0
    while True:
        j = text.find("{{", i)
        if j < 0:
            if i < len(text):
                segments.append(Segment("text", text[i:], text[i:]))
            return tuple(segments)
        if j > i:
            segments.append(Segment("text", text[i:j], text[i:j]))
        if text.startswith("{{=", j):
            end = _expression_end(text, j + 3)
            if end is None:
                raise Problem("'{{=' has no matching '}}'", j)
            segments.append(Segment("expr", text[j + 3 : end], text[j : end + 2]))
        else:
            end = text.find("}}", j + 2)
            if end < 0:
                raise Problem("'{{' has no matching '}}'", j)
            segments.append(Segment("simple", text[j + 2 : end].strip(), text[j : end + 2]))
        i = end + 2


def scan_or_raise(text: str) -> tuple[Segment, ...]:
    try:
        return scan(text)
    except Problem as exc:
        raise ExpressionError(
            text, exc.message + describe_position(text, exc.position), exc.position, what="render"
        )


def evaluate_or_raise(expression: str, scope: Mapping, shown: str) -> Any:
    """Evaluate and turn internal problems into an ExpressionError naming ``shown``."""
    # the expr-lang machinery (parser, AST records, interpreter, Sprig) is imported by the
    # first expression: a run whose tags are all simple paths never needs it (8 ms of start-up)
    from .analysis import free_variables
    from .interpreter import Interpreter
    from .parser import parse

    try:
        node = parse(expression)
        names = free_variables(expression)
    except Problem as exc:
        where = describe_position(expression, exc.position)
        raise ExpressionError(shown, exc.message + where, exc.position)
    # Like Argo (expr.Compile with the scope as env), every top-level name must exist,
    # even in a branch that is never taken.
    for name in names:
        if name not in scope:
            raise UnknownVariable(missing_message([], name, scope))
    try:
        return Interpreter(scope).eval(node)
    except UnknownVariable:
        raise
    except Problem as exc:
        raise ExpressionError(shown, exc.message)
    except RecursionError:
        raise ExpressionError(shown, "expression is nested too deeply")


def to_text(value: Any) -> str:
    """The text Argo substitutes for a value; raises ValueError when there is none."""
    if isinstance(value, str):
        return value
    if value is None:
        raise ValueError("the expression evaluated to nil, which cannot be substituted")
    try:
        return go_json(value)
    except ValueError:
        raise ValueError(f"the result {go_sprint(value)} cannot be rendered as JSON")


def _resolve(segment: Segment, scope: Mapping) -> Any:
    if segment.kind == "simple":
        if not segment.body:
            raise ExpressionError(segment.raw, "empty tag")
        return lookup_path(scope, segment.body.split("."))
    return evaluate_or_raise(segment.body, scope, segment.raw)


def render(text: str, scope: Mapping, *, strict: bool = True) -> str:
    """Substitute every ``{{...}}`` tag in ``text``.

    With ``strict=False`` a tag that reads an unknown variable, or whose expression yields
    nil, is left as written (useful for ``{{workflow.name}}`` before the workflow id is
    known), as Argo does with unresolved tags; syntax and type errors still raise.
    """
    if "{{" not in text:
        return text
    out: list[str] = []
    for segment in scan_or_raise(text):
        if segment.kind == "text":
            out.append(segment.body)
            continue
        try:
            value = _resolve(segment, scope)
        except UnknownVariable as exc:
            if not strict:
                out.append(segment.raw)
                continue
            raise ExpressionError(segment.raw, exc.message)
        if value is None and not strict:
            out.append(segment.raw)
            continue
        try:
            out.append(to_text(value))
        except ValueError as exc:
            raise ExpressionError(segment.raw, str(exc))
    return "".join(out)


def render_value(text: str, scope: Mapping) -> Any:
    """The raw value when ``text`` is exactly one ``{{=expr}}`` tag, else ``render(text)``."""
    segments = scan_or_raise(text.strip()) if "{{" in text else ()
    if len(segments) == 1 and segments[0].kind == "expr":
        segment = segments[0]
        try:
            return evaluate_or_raise(segment.body, scope, segment.raw)
        except UnknownVariable as exc:
            raise ExpressionError(segment.raw, exc.message)
    return render(text, scope)

"""Errors raised while scanning, parsing or evaluating Argo expressions."""

from __future__ import annotations


class ExpressionError(ValueError):
    """An expression or template could not be evaluated.

    The message names the expression text and the problem, e.g.
    ``cannot evaluate '{{steps.hello.outputs.parameters.msg}}': no step 'hello' in scope
    (known: a, b)``. ``expression`` holds the text, ``problem`` the bare reason and
    ``position`` the 0-based offset of a syntax error inside the expression (or None).
    """

    def __init__(
        self,
        expression: str,
        problem: str,
        position: int | None = None,
        *,
        what: str = "evaluate",
        detail: str = "",
    ) -> None:
        self.expression = expression
        self.problem = problem
        self.position = position
        super().__init__(f"cannot {what} '{expression}'{detail}: {problem}")


class Problem(Exception):
    """Internal: a failure without the surrounding expression text.

    Raised deep in the lexer, parser and interpreter; the public entry points catch it and
    re-raise an :class:`ExpressionError` that names the whole expression.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class UnknownVariable(Problem):
    """Internal: a variable path is not in scope (``render(strict=False)`` keeps the tag)."""


def describe_position(source: str, position: int | None) -> str:
    """Return ' at column N' (1-based, with line when multi-line) for a syntax error."""
    if position is None:
        return ""
    before = source[:position]
    line = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1) + 1
    if "\n" in source:
        return f" at line {line}, column {column}"
    return f" at column {column}"

"""Static analysis: which dotted variable paths does a template or expression read?"""

from __future__ import annotations

from .errors import ExpressionError, Problem, describe_position
from .template import scan_or_raise


def expression_names(expression: str) -> set[str]:
    """Dotted paths read by one expr-lang expression (no braces)."""
    from .analysis import read_paths  # the parser, on first use (see template.evaluate_or_raise)

    try:
        return set(read_paths(expression))
    except Problem as exc:
        where = describe_position(expression, exc.position)
        raise ExpressionError(expression, exc.message + where, exc.position, what="parse")


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

"""Argo's templating, evaluated in Python: ``{{...}}`` tags, expr-lang and ``when``.

One evaluator for the strings dflow emits, with the semantics of Argo Workflows 3.7
(expr-lang 1.17 plus Sprig for ``{{=...}}``, govaluate for ``when``), so a workflow that
runs under the local engine behaves as it would on Argo. Never uses Python ``eval``.

>>> scope = {"inputs": {"parameters": {"n": "3"}}}
>>> render("{{=toJson(sprig.untilStep(0, sprig.atoi(inputs.parameters['n']), 1))}}", scope)
'[0,1,2]'
>>> evaluate_condition("{{inputs.parameters.n}} < 10", scope)
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .condition import evaluate_condition
from .errors import ExpressionError, UnknownVariable
from .names import referenced_names, variables
from .template import evaluate_or_raise, render, render_value

__all__ = [
    "ExpressionError",
    "evaluate",
    "evaluate_condition",
    "referenced_names",
    "render",
    "render_value",
    "variables",
]


def evaluate(expr: str, scope: Mapping) -> Any:
    """Evaluate one expr-lang expression (without ``{{=`` ``}}``) and return its value.

    Values are plain Python: str, int, float, bool, None, list, dict. Raises
    ExpressionError naming the expression and the problem.
    """
    try:
        return evaluate_or_raise(expr, scope, expr)
    except UnknownVariable as exc:
        raise ExpressionError(expr, exc.message)

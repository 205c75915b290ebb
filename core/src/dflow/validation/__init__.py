"""Validation before running or submitting: every problem, with the path where it is.

``validate_workflow(wf)`` walks the whole template graph once (recursion-safe). Problems that
make the workflow fail for certain (a literal of the wrong type, a missing output, a cycle)
are errors, raised together as a :class:`ValidationError` listing each as ``<path>: <message>``,
e.g. ``wf/main[1]/square: input 'x' expects int, got output 'msg' (float) of step 'hello'``.
What only run-time values decide (a ``str`` output feeding an ``int`` input: it may hold JSON)
is a :class:`ValidationWarning`; it never stops a workflow.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from .checks import Problem, check_workflow

if TYPE_CHECKING:
    from ..model.workflow import Workflow

__all__ = [
    "Problem",
    "ValidationError",
    "ValidationWarning",
    "errors_of",
    "problems_of",
    "validate_workflow",
]


class ValidationError(ValueError):
    """The workflow has problems; ``problems`` lists them, ``str()`` shows one per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"workflow is invalid ({len(problems)} {noun}):\n{lines}")


class ValidationWarning(UserWarning):
    """Something about the workflow only its run can decide (the message says what)."""


def problems_of(workflow: Workflow) -> list[Problem]:
    """Every problem of ``workflow``, errors and warnings (empty when it is valid)."""
    return check_workflow(workflow)


def errors_of(workflow: Workflow) -> list[Problem]:
    """The problems of ``workflow`` that stop it (``severity == "error"``)."""
    return [p for p in check_workflow(workflow) if p.severity == "error"]


def validate_workflow(workflow: Workflow) -> None:
    """Raise :class:`ValidationError` listing the errors; warn about the rest."""
    problems = check_workflow(workflow)
    for p in problems:
        if p.severity != "error":
            warnings.warn(str(p), ValidationWarning, stacklevel=3)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ValidationError(errors)

"""Validation before running or submitting: every problem, with the path where it is.

``validate_workflow(wf)`` walks the whole template graph once (recursion-safe) and raises a
:class:`ValidationError` listing each problem as ``<path>: <message>``, e.g.
``wf/main[1]/square: input 'x' expects int, got output 'msg' (str) of step 'hello'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .checks import Problem, check_workflow

if TYPE_CHECKING:
    from ..model.workflow import Workflow

__all__ = ["Problem", "ValidationError", "validate_workflow", "problems_of"]


class ValidationError(ValueError):
    """The workflow has problems; ``problems`` lists them, ``str()`` shows one per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"workflow is invalid ({len(problems)} {noun}):\n{lines}")


def problems_of(workflow: Workflow) -> list[Problem]:
    """Every problem of ``workflow`` (empty when it is valid)."""
    return check_workflow(workflow)


def validate_workflow(workflow: Workflow) -> None:
    """Raise :class:`ValidationError` if ``workflow`` has any problem."""
    problems = check_workflow(workflow)
    if problems:
        raise ValidationError(problems)

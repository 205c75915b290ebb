"""How ``Workflow(context=...)`` applies, one rule for every engine.

A context that is an :class:`~dflow.executor.Executor` is the default executor of the steps
that name none (:func:`default_executor`; without one, ``executor = "..."`` of the
configuration file is). Any other context renders the workflow once, before it runs
(:func:`render_workflow`), then each script template (Python OPs included) that a step runs,
on a copy, so the user's template is never changed (:func:`render_template`); Steps, DAG and
HTTP templates are left alone. pydflow does the same in debug mode (the step's template is
rendered by the workflow's context) and when it builds Argo's manifest.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from dflow.model.op_template import OPTemplate, ScriptOPTemplate

if TYPE_CHECKING:
    from dflow.executor import Executor


def workflow_context(workflow: Any) -> Any:
    """The context that renders ``workflow`` and its script templates, or None (no context,
    or an executor given as the context)."""
    from dflow.executor import Executor

    ctx = getattr(workflow, "context", None)
    if ctx is None or isinstance(ctx, Executor):
        return None
    if not callable(getattr(ctx, "render", None)):
        raise TypeError(
            f"Workflow '{workflow.name}': context={ctx!r} has no render(); give a "
            "dflow.Context (render(template_or_workflow)) or a dflow.Executor"
        )
    return ctx


def default_executor(workflow: Any) -> Executor | None:
    """The executor of the workflow's steps that name none: ``context=`` when it is an
    executor, else the configuration's ``executor = "..."`` (built each call), else None."""
    from dflow.backends import get_default_executor
    from dflow.executor import Executor

    ctx = getattr(workflow, "context", None)
    if isinstance(ctx, Executor):
        return ctx
    return get_default_executor()


def render_workflow(workflow: Any) -> Any:
    """The workflow as its context renders it (itself when there is no context)."""
    ctx = workflow_context(workflow)
    if ctx is None:
        return workflow
    return ctx.render(workflow) or workflow


def applies_to(tmpl: Any) -> bool:
    """Whether a workflow's context renders this template: script templates only."""
    return isinstance(tmpl, ScriptOPTemplate)


def render_template(context: Any, tmpl: OPTemplate) -> OPTemplate:
    """``tmpl`` as ``context`` renders it (a copy), or ``tmpl`` itself when the context is
    None or does not apply to it."""
    if context is None or not applies_to(tmpl):
        return tmpl
    return context.render(copy.deepcopy(tmpl)) or tmpl

"""Lifecycle hooks of a step (``running_hook``, ``success_hook``, ``failure_hook``), as Argo runs them.

Argo renders each hook as ``hooks: {<name>: {expression, template}}`` and starts the hook's
template once, the first time its expression is true. The expression is the hook's own
(``HookStep(tmpl, expression="steps['x'].status == 'Running'")``, expr-lang, evaluated against
the step's template scope) or, without one, ``<steps|tasks>['<step>'].status == '<Phase>'`` with
Running / Succeeded / Failed for the three slots (a failure hook also fires on Error here, as
pydflow's ``failure_hook`` did).

Locally the step's status changes twice (Running, then its final phase), so every hook not yet
fired is evaluated at those two moments; an expression about *other* steps is evaluated then
too, not whenever they change. Hooks run concurrently with the step (a running hook) or
with each other; the step's result is returned once its hooks are done. Where Argo reads a
missing value as nil, an expression that cannot be evaluated while the step runs (its
outputs do not exist yet) is not true yet; one that still cannot be evaluated when the step
has finished gives the hook an ``Error`` node saying why. The step itself is unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from dflow import expressions as ex
from dflow.model.io import MISSING
from dflow.model.step import Step

from .state import Frame, RunContext
from .values import Result

#: how a hook's step is run: the walker's ``run_instance(frame, step, path, display, item, slice)``
RunInstance = Callable[[Frame, Step, str, str, Any, Any], Awaitable[Result]]

#: (attribute, Argo hook name, phases that fire the default expression)
SLOTS = (
    ("running_hook", "running", ("Running",)),
    ("success_hook", "success", ("Succeeded",)),
    ("failure_hook", "failure", ("Failed", "Error")),
)


def step_hooks(step: Step) -> list[tuple[str, Any, tuple[str, ...]]]:
    """(name, HookStep, default phases) of each hook the step declares."""
    out: list[tuple[str, Any, tuple[str, ...]]] = []
    for attr, name, phases in SLOTS:
        hook = getattr(step, attr, None)
        if hook is not None:
            out.append((name, hook, phases))
    return out


def fire(
    ctx: RunContext,
    frame: Frame,
    step: Step,
    path: str,
    hooks: list,
    fired: set[str],
    res: Result,
    run_instance: RunInstance,
) -> list[asyncio.Future]:
    """Start every hook not yet fired whose expression holds now that ``step`` is ``res``."""
    saved = frame.results.get(step.name, MISSING)
    frame.results[step.name] = res
    started: list[asyncio.Future] = []
    try:
        scope = None
        for name, hook, phases in hooks:
            if name in fired:
                continue
            expr = getattr(hook, "expression", None)
            if not expr:
                if res.phase not in phases:
                    continue
            else:
                scope = scope if scope is not None else frame.scope(ctx)
                try:
                    if ex.evaluate(str(expr), scope) is not True:
                        continue
                except ex.ExpressionError as exc:
                    if res.phase == "Running":
                        continue  # outputs and later steps do not exist yet: not true yet
                    fired.add(name)
                    node = ctx.nodes.open(
                        frame.node,
                        f"{path}.hooks.{name}",
                        hook.name,
                        f"{step.name}.hooks.{name}",
                        None,
                        "Pod",
                        hook.template,
                    )
                    ctx.nodes.transition(
                        node,
                        "Error",
                        message=(
                            f"hook '{name}' of step '{step.name}': cannot evaluate expression "
                            f"{str(expr)!r}: {exc}"
                        ),
                    )
                    continue
            fired.add(name)
            started.append(
                asyncio.ensure_future(
                    run_instance(
                        frame,
                        hook,
                        f"{path}.hooks.{name}",
                        f"{step.name}.hooks.{name}",
                        MISSING,
                        None,
                    )
                )
            )
    finally:
        if res.phase == "Running":  # only a final result stays in the scope
            if saved is MISSING:
                frame.results.pop(step.name, None)
            else:
                frame.results[step.name] = saved
    return started

"""What a step's template gives back: a skipped step's defaults, a loop's aggregated
outputs, a Steps/DAG template's outputs resolved in its scope."""

from __future__ import annotations

import json
from typing import Any

from dflow import expressions as ex
from dflow.model.io import (
    MISSING,
    ArgoVar,
    IfExpression,
    output_parameter_type,
)
from dflow.model.step import Step
from dflow.serialization import load_value, type_name

from .artifacts import merge_stacked, resolve_artifact
from .journal import Node
from .state import Frame, RunContext
from .values import Result, StepError, default_text, param_type, value_text
from .wfglobals import publish_globals


def skipped_result(step: Step, node_id: str, phase: str, why: str = "") -> Result:
    """A step that did not run: its outputs are the declared defaults."""
    res = Result(phase, node_id, message=why)
    for name, p in step.template.outputs.parameters.items():
        d = default_text(getattr(p, "default", MISSING))
        if d is not None:
            res.params[name] = d
            res.types[name] = param_type(p)
    return res


def empty_stacked(ctx: RunContext, step: Step, res: Result, group: Node) -> None:
    """A sliced fan-out without items still gives its stacked output artifacts, empty: on Argo
    its init-artifact step makes their location before the loop, and a step reading them gets
    an empty list (pydflow's debug mode passes one too)."""
    slices = step.slices
    for name in slices.output_artifact if slices is not None else ():
        if name in step.template.outputs.artifacts:
            res.arts[name] = merge_stacked(ctx, group, name, [])


def aggregate(ctx: RunContext, step: Step, done: list[Result], res: Result, group: Node) -> None:
    """Loop outputs: a JSON list per parameter; sliced outputs stacked in item order."""
    slices = step.slices
    stacked_p = set(slices.output_parameter) if slices is not None else set()
    stacked_a = set(slices.output_artifact) if slices is not None else set()
    oks = [r for r in done if r.ok]
    for name, p in step.template.outputs.parameters.items():
        tp = param_type(p)
        if name in stacked_p:
            pairs = []
            for r in oks:
                text = r.params.get(name)
                if text is not None:
                    pairs.extend(json.loads(text))
            pairs.sort(key=lambda d: d.get("order", 0))
            res.params[name] = json.dumps([d["dflow_list_item"] for d in pairs])
            res.types[name] = "list"
            continue
        values = []
        for r in done:
            if name in r.params:
                v = r.params[name]
                values.append(load_value(v, tp) if tp not in (None, "str") else v)
        res.params[name] = json.dumps(values)
        res.types[name] = "list"
    for name in step.template.outputs.artifacts:
        if name in stacked_a:
            srcs = [r.arts.get(name) for r in oks]
            res.arts[name] = merge_stacked(ctx, group, name, [s for s in srcs if s])


def template_outputs(ctx: RunContext, frame: Frame, res: Result) -> None:
    """A Steps/DAG template's outputs, resolved in its scope once its steps are done.

    Argo's rule (getTemplateOutputsFromScope, workflow/controller/operator.go, v3.7.18
    and v4.1.2): a parameter that cannot be resolved (an expression that fails, a skipped
    step's output) takes its ``default``, else the template's node errors; an artifact
    that cannot be resolved is left out when ``optional`` (or when its step was skipped),
    else the node errors. A template that failed reports what it could resolve.
    """
    tmpl = frame.template
    scope = frame.scope(ctx)
    where = f"template '{tmpl.name}'"
    problems: list[str] = []
    for name, p in tmpl.outputs.parameters.items():
        try:
            text = _output_parameter(p, scope, where)
            why = "it has no source"
        except StepError as exc:
            text, why = None, str(exc)
        if text is None:
            text = default_text(p.default)
        if text is None:
            problems.append(f"output parameter '{name}': {why} (give it a default)")
            continue
        res.params[name] = text
        res.types[name] = type_name(output_parameter_type(p)) or _source_type(frame, p)
    for name, a in tmpl.outputs.artifacts.items():
        try:
            path = _output_artifact(ctx, frame, a, scope, where)
        except (StepError, KeyError) as exc:
            path = None
            if not a.optional and not _from_skipped(frame, a):
                problems.append(f"output artifact '{name}': {exc} (or mark it optional)")
        res.arts[name] = path
    if problems and res.ok:
        res.phase = "Error"
        res.message = f"{where}: cannot resolve " + "; ".join(problems)
    publish_globals(ctx, tmpl.outputs, res)


def _output_parameter(p: Any, scope: dict, where: str) -> str | None:
    if p.value_from_parameter is not None:
        return value_text(p.value_from_parameter, scope, where)
    expr = p.value_from_expression
    if isinstance(expr, str) and not expr.lstrip().startswith("{{"):
        expr = ArgoVar(expr)  # expression text, as Argo's valueFrom.expression takes it
    if expr is not None:
        return value_text(expr, scope, where)
    if p.value is not MISSING:
        return value_text(p.value, scope, where)
    return None


def _output_artifact(ctx: RunContext, frame: Frame, a: Any, scope: dict, where: str) -> str | None:
    if a._from is not None:
        return resolve_artifact(ctx, frame, a._from, scope, where)
    if a.from_expression is not None:
        return _artifact_expression(ctx, frame, a.from_expression, scope, where)
    return None


def _from_skipped(frame: Frame, a: Any) -> bool:
    """Whether an output artifact comes from a step that did not run (Argo puts an empty
    artifact in the scope for it: no error, no artifact)."""
    src = a._from
    if isinstance(a.from_expression, IfExpression):
        src = a.from_expression  # either branch: the one chosen was skipped, or errored
    sources = [src._then, src._else] if isinstance(src, IfExpression) else [src]
    for s in sources:
        step = getattr(getattr(s, "artifact", s), "step", None)
        res = frame.results.get(step.name) if step is not None else None
        if res is not None and res.phase in ("Skipped", "Omitted"):
            return True
    return False


def _source_type(frame: Frame, p: Any) -> str | None:
    src = p.value_from_parameter
    step = getattr(src, "step", None)
    if step is not None and step.name in frame.results:
        return frame.results[step.name].types.get(src.name)
    return None


def _artifact_expression(ctx: RunContext, frame: Frame, expr: Any, scope: dict, where: str) -> Any:
    # if_expression(_if, art1, art2): the condition as rendered for Argo, then the artifact
    if isinstance(expr, IfExpression):
        try:
            cond = ex.evaluate(expr.condition, scope)
        except ex.ExpressionError as exc:
            raise StepError(f"{where}: {exc}") from None
        if not isinstance(cond, bool):
            raise StepError(
                f"{where}: condition {expr.condition!r} gave {cond!r}, not true or false"
            )
        chosen = expr._then if cond else expr._else
        return resolve_artifact(ctx, frame, chosen, scope, where)
    if isinstance(expr, str) and not expr.lstrip().startswith("{{"):
        expr = ArgoVar(expr)  # expression text, as Argo's fromExpression takes it
    text = value_text(expr, scope, where)  # artifacts are local paths in the scope
    return text or None

"""Steps templates: sequential step groups of parallel steps (workflow/controller/steps.go,
v3.7.18; the same rules in v4.1.2)."""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from dflow.expressions import ExpressionError, evaluate_condition

from . import hooks, items
from .execute import Opts, execute_template
from .memo import save_memoized
from .nodes import failed_or_error, fulfilled
from .scope import Scope, add_aggregate, add_outputs, build_local, template_outputs
from .templating import TemplateError, replace, replace_object

if TYPE_CHECKING:
    from .controller import Operator


def should_execute(when: str | None) -> bool:
    """shouldExecute (steps.go, v3.7.18): govaluate with bare words as strings."""
    if not when:
        return True
    try:
        result = evaluate_condition(when, {})
    except ExpressionError as exc:
        hint = (
            ' (hint: try wrapping the affected expression in quotes ("))'
            if "token" in str(exc).lower()
            else ""
        )
        raise TemplateError(f"Invalid 'when' expression '{when}': {exc}{hint}")
    if not isinstance(result, bool):
        raise TemplateError(f"Expected boolean evaluation for '{when}'. Got {result}")
    return result


def continues_on(step: dict[str, Any], phase: str) -> bool:
    """WorkflowStep.ContinuesOn / DAGTask.ContinuesOn (workflow_types.go, v3.7.18)."""
    cont = step.get("continueOn") or {}
    return (phase == "Failed" and bool(cont.get("failed"))) or (
        phase == "Error" and bool(cont.get("error"))
    )


def should_expand(step: dict[str, Any]) -> bool:
    return bool(step.get("withItems") or step.get("withParam") or step.get("withSequence"))


def execute_steps(
    op: Operator, name: str, tmpl: dict[str, Any], holder: dict[str, Any], opts: Opts
) -> tuple[dict[str, Any], Exception | None]:
    """executeSteps (steps.go, v3.7.18)."""
    from .execute import initialize_executable

    node = op.nodes.by_name(name)
    if node is None:
        node = initialize_executable(op, name, "Steps", tmpl, holder, opts, "Running")
    scope = Scope(tmpl)
    add_outputs(scope, "workflow", op.status.get("outputs"))
    ctx = {"boundary": node["id"], "scope": scope, "on_exit": opts.on_exit}
    for i, group in enumerate(tmpl["steps"]):
        sg_name = f"{name}[{i}]"
        sg = op.nodes.by_name(sg_name)
        if sg is None:
            op.nodes.initialize(
                sg_name, "StepGroup", op.scope_name, None, node["id"], "Running", {}
            )
        elif not fulfilled(sg):
            op.nodes.mark(sg_name, "Running")
        if i == 0:
            op.nodes.add_child(name, sg_name)
        else:
            prev = op.nodes.by_name(f"{name}[{i - 1}]")
            if not prev.get("children"):
                op.nodes.add_child(prev["name"], sg_name)  # an empty group (empty withParam)
            for child in prev.get("children") or []:
                for out in op.nodes.outbound(child):
                    op.nodes.add_child(op.nodes.get(out)["name"], sg_name)
        sg = execute_step_group(op, group, sg_name, ctx)
        if not fulfilled(sg):
            return node, None
        if failed_or_error(sg):
            update_outbound(op, name, tmpl)
            return op.nodes.mark(name, "Failed", sg.get("message") or ""), None
        for step in group:
            child_name = f"{sg_name}.{step['name']}"
            child = op.nodes.by_name(child_name)
            prefix = f"steps.{step['name']}"
            if child is None:  # expanded by a loop: aggregate its children's outputs
                expanded = [
                    n
                    for n in op.status["nodes"].values()
                    if n.get("boundaryID") == node["id"]
                    and n["name"].startswith(child_name + "(")
                    and n["type"] != "Skipped"
                ]
                add_aggregate(scope, prefix, expanded)
                build_local(op.nodes, scope, prefix, sg)
            else:
                build_local(op.nodes, scope, prefix, child)
                scope.add_skipped_outputs(prefix, child, op.template(step.get("template")), True)
    update_outbound(op, name, tmpl)
    try:
        outputs = template_outputs(tmpl, scope)
    except TemplateError as err:
        return node, err
    if outputs is not None:
        node["outputs"] = outputs
        op.add_outputs_to_global(outputs)
    if node.get("memoizationStatus"):
        save_memoized(op, node)
    return op.nodes.mark(name, "Succeeded"), None


def update_outbound(op: Operator, name: str, tmpl: dict[str, Any]) -> None:
    """updateOutboundNodes (steps.go, v3.7.18): the outbound nodes of the last group."""
    last = None
    for i in range(len(tmpl["steps"]) - 1, -1, -1):
        last = op.nodes.by_name(f"{name}[{i}]")
        if last is not None:
            break
    if last is None:
        return
    outbound: list[str] = []
    for child in last.get("children") or []:
        outbound += op.nodes.outbound(child)
    op.nodes.by_name(name)["outboundNodes"] = outbound


def execute_step_group(
    op: Operator, group: list[dict[str, Any]], sg_name: str, ctx: dict[str, Any]
) -> dict[str, Any]:
    """executeStepGroup (steps.go, v3.7.18)."""
    from .controller import ERR_DEADLINE, ERR_PARALLELISM, ERR_REQUEUE, ERR_TIMEOUT

    node = op.nodes.by_name(sg_name)
    if fulfilled(node) and op.nodes.children_fulfilled(node):
        return node
    scope: Scope = ctx["scope"]
    try:
        group = resolve_references(op, group, scope)
    except TemplateError as err:
        if getattr(err, "missing", False):
            return node  # ErrRequeue: a referenced output is not there yet
        return op.nodes.mark_error(sg_name, f"Failed to resolve references: {err}")
    try:
        group = expand_step_group(op, sg_name, group, ctx)
    except TemplateError as err:
        return op.nodes.mark_error(sg_name, str(err))
    node_steps: dict[str, dict[str, Any]] = {}
    for step in group:
        child_name = f"{sg_name}.{step['name']}"
        try:
            proceed = should_execute(step.get("when"))
        except TemplateError as err:
            op.nodes.initialize(
                child_name,
                "Skipped",
                op.scope_name,
                step.get("template"),
                ctx["boundary"],
                "Error",
                {},
                str(err),
            )
            op.nodes.add_child(sg_name, child_name)
            op.nodes.mark_error(child_name, str(err))
            return op.nodes.mark_error(sg_name, str(err))
        if not proceed:
            if op.nodes.by_name(child_name) is None:
                op.nodes.initialize(
                    child_name,
                    "Skipped",
                    op.scope_name,
                    step.get("template"),
                    ctx["boundary"],
                    "Skipped",
                    {},
                    f"when '{step['when']}' evaluated false",
                )
                op.nodes.add_child(sg_name, child_name)
            continue
        holder = {
            "template": step.get("template"),
            "inline": step.get("inline"),
            "_kind": "step",
            "name": step["name"],
        }
        child, err = execute_template(
            op,
            child_name,
            holder,
            step.get("arguments") or {},
            Opts(boundary_id=ctx["boundary"], on_exit=ctx["on_exit"]),
        )
        if err is not None:
            if err is ERR_DEADLINE:
                return node
            if err is ERR_TIMEOUT:
                return op.nodes.mark(sg_name, "Failed", str(err))
            if err not in (ERR_PARALLELISM, ERR_REQUEUE):
                op.nodes.add_child(sg_name, child_name)
                return op.nodes.mark_error(
                    sg_name, f"step group deemed errored due to child {child_name} error: {err}"
                )
        if child is not None:
            node_steps[child["name"]] = step
            op.nodes.add_child(sg_name, child_name)
    node = op.nodes.by_name(sg_name)
    completed = True
    for cid in node.get("children") or []:
        child = op.nodes.get(cid)
        step = node_steps.get(child["name"], {})
        scope.add(f"steps.{child['displayName']}.status", child["phase"])
        done, err = hooks.template_hooks(
            op, scope, step.get("hooks"), child, ctx["boundary"], "steps." + step.get("name", "")
        )
        if err is not None:
            op.nodes.mark_error(sg_name, str(err))
        if not done:
            return node
        if not fulfilled(child):
            completed = False
        elif child["phase"] in ("Succeeded", "Failed", "Error", "Skipped"):
            has, exit_node, err = hooks.run_on_exit(
                op,
                step,
                child,
                ctx["boundary"],
                "steps." + step.get("name", ""),
                scope,
                ctx["on_exit"],
            )
            if err is not None:
                return node
            if has and (exit_node is None or not fulfilled(exit_node)):
                completed = False
    if not completed:
        if fulfilled(node):
            return op.nodes.mark(sg_name, "Running")
        return node
    for cid in node.get("children") or []:
        child = op.nodes.get(cid)
        step = node_steps.get(child["name"], {})
        if failed_or_error(child) and not continues_on(step, child["phase"]):
            return op.nodes.mark(sg_name, "Failed", f"child '{cid}' failed")
    return op.nodes.mark(sg_name, "Succeeded")


def resolve_references(
    op: Operator, group: list[dict[str, Any]], scope: Scope
) -> list[dict[str, Any]]:
    """resolveReferences (steps.go, v3.7.18): ``when`` first, then outputs of earlier steps
    (strictly: an unresolved ``steps.``/``tasks.`` tag waits), then artifacts."""
    out = []
    params = scope.parameters(op.globals)
    for step in group:
        step = copy.deepcopy(step)
        hooks_ = step.pop("hooks", None)
        if step.get("when"):
            when = json.loads(
                replace(json.dumps(step["when"]), params, strict_prefixes=("steps", "tasks"))
            )
            try:
                proceed = should_execute(when)
            except TemplateError:
                if not should_expand(step):
                    raise
                proceed = True
            if not proceed:
                step["when"] = when
                if hooks_ is not None:
                    step["hooks"] = hooks_
                out.append(step)
                continue
        step["arguments"] = scope.mark_absent_optional_args(step.get("arguments") or {})
        step = replace_object(step, params, strict_prefixes=("steps", "tasks"))
        if hooks_ is not None:
            step["hooks"] = hooks_
        arts = []
        for art in (step.get("arguments") or {}).get("artifacts") or []:
            if not art.get("from") and not art.get("fromExpression"):
                arts.append(art)
                continue
            try:
                resolved = scope.resolve_artifact(art)
            except TemplateError as err:
                if art.get("optional"):
                    continue
                raise TemplateError(f"unable to resolve references: {err}")
            resolved = dict(resolved)
            resolved["name"] = art["name"]
            arts.append(resolved)
        if arts or (step.get("arguments") or {}).get("artifacts") is not None:
            step.setdefault("arguments", {})["artifacts"] = arts
        out.append(step)
    return out


def expand_step_group(
    op: Operator, sg_name: str, group: list[dict[str, Any]], ctx: dict[str, Any]
) -> list[dict[str, Any]]:
    """expandStepGroup (steps.go, v3.7.18): an empty loop becomes a Skipped node."""
    out = []
    for step in group:
        if not should_expand(step):
            out.append(step)
            continue
        expanded = expand(step, ctx["scope"].parameters(op.globals))
        if not expanded:
            child_name = f"{sg_name}.{step['name']}"
            if op.nodes.by_name(child_name) is None:
                op.nodes.initialize(
                    child_name,
                    "Skipped",
                    op.scope_name,
                    step.get("template"),
                    ctx["boundary"],
                    "Skipped",
                    {},
                    "Skipped, empty params",
                )
                op.nodes.add_child(sg_name, child_name)
        out += expanded
    return out


def expand(step: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """expandStep / expandTask (steps.go, dag.go, v3.7.18) with processItem (operator.go)."""
    when = step.get("when")
    if step.get("withItems"):
        values = items.raw(step["withItems"])
    elif step.get("withParam"):
        try:
            values = items.parse_items(step["withParam"])
        except ValueError as exc:
            if _must_execute(when):
                raise TemplateError(
                    "withParam value could not be parsed as a JSON list: "
                    f"{step['withParam'].strip()}: {exc}"
                )
            values = []
    elif step.get("withSequence"):
        try:
            values = items.expand_sequence(step["withSequence"])
        except TemplateError:
            if _must_execute(when):
                raise
            values = []
    else:
        return [step]
    base = {k: v for k, v in step.items() if k not in ("withItems", "withParam", "withSequence")}
    text = json.dumps(base, ensure_ascii=False)
    out = []
    for i, value in enumerate(values):
        name, item_params = items.item_values(i, step["name"], value)
        scope = {**params, **item_params}
        try:
            lenient = not should_execute(when)
        except TemplateError:
            lenient = False
        if lenient:
            new = json.loads(replace(text, {k: v for k, v in scope.items() if v is not None}))
        else:
            new = json.loads(replace(text, scope, allow_unresolved=False))
        new["name"] = name
        new["template"] = step.get("template")
        out.append(new)
    return out


def _must_execute(when: str | None) -> bool:
    try:
        return should_execute(when)
    except TemplateError:
        return True

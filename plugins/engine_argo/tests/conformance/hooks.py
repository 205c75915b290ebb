"""Exit handlers and lifecycle hooks (workflow/controller/exit_handler.go and hooks.go,
v3.7.18; the same rules in v4.1.2)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .nodes import fulfilled, hook_name, on_exit_name
from .scope import Scope
from .templating import TemplateError, evaluate, replace

if TYPE_CHECKING:
    from .controller import Operator


def exit_hook(step: dict[str, Any]) -> dict[str, Any] | None:
    """GetExitHook (workflow_types.go, v3.7.18): ``hooks.exit``, else the older ``onExit``."""
    hooks = step.get("hooks") or {}
    if "exit" in hooks:
        return hooks["exit"]
    if step.get("onExit"):
        return {"template": step["onExit"], "arguments": step.get("arguments") or {}}
    return None


def _evaluate_bool(expression: str, params: dict[str, Any]) -> bool:
    value = evaluate(expression, params)
    if not isinstance(value, bool):
        raise TemplateError(f"expression {expression!r} did not evaluate to a boolean")
    return value


def resolve_exit_arguments(
    op: Operator,
    args: dict[str, Any],
    prefix: str,
    outputs: dict[str, Any] | None,
    scope: Scope | None,
) -> dict[str, Any]:
    """resolveExitTmplArgument (exit_handler.go, v3.7.18): a hook's arguments may read the
    outputs of the step it hangs from."""
    scope = scope if scope is not None else Scope()
    for p in (outputs or {}).get("parameters") or []:
        value = p.get("value")
        scope.add(
            f"{prefix}.outputs.parameters.{p['name']}",
            "" if value is None else value if isinstance(value, str) else json.dumps(value),
        )
    for a in (outputs or {}).get("artifacts") or []:
        scope.add(f"{prefix}.outputs.artifacts.{a['name']}", a)
    args = scope.mark_absent_optional_args(args)
    new = json.loads(
        replace(
            json.dumps(args, ensure_ascii=False), scope.parameters(op.globals), strict_prefixes=()
        )
    )
    for i, art in enumerate(new.get("artifacts") or []):
        if not art.get("from") and not art.get("fromExpression"):
            continue
        try:
            resolved = scope.resolve_artifact(art)
        except TemplateError as err:
            if art.get("optional"):
                continue
            raise TemplateError(f"unable to resolve references: {err}")
        resolved = dict(resolved)
        resolved["name"] = art["name"]
        new["artifacts"][i] = resolved
    return new


def run_on_exit(
    op: Operator,
    step: dict[str, Any],
    parent: dict[str, Any],
    boundary_id: str,
    prefix: str,
    scope: Scope | None,
    on_exit: bool,
) -> tuple[bool, dict[str, Any] | None, Exception | None]:
    """runOnExitNode (exit_handler.go, v3.7.18): ``<parent>.onExit`` once the step is done."""
    from .execute import Opts, execute_template

    hook = exit_hook(step)
    if hook is None or not op.should_execute(True):
        return False, None, None
    outputs = parent.get("outputs")
    last = op.nodes.last_attempt(parent)
    if last is not None:
        outputs = last.get("outputs")
    try:
        if hook.get("expression") and not _evaluate_bool(
            hook["expression"], (scope or Scope()).parameters(op.globals)
        ):
            return False, None, None
        args = hook.get("arguments") or {}
        if args.get("parameters") or args.get("artifacts"):
            args = resolve_exit_arguments(op, args, prefix, outputs, scope)
    except TemplateError as err:
        return True, None, err
    name = on_exit_name(parent["name"])
    node, err = execute_template(
        op,
        name,
        {"template": hook.get("template")},
        args,
        Opts(boundary_id=boundary_id, on_exit=True, flag={"hooked": True}),
    )
    op.nodes.add_child(parent["name"], name)
    return True, node, err


def template_hooks(
    op: Operator,
    scope: Scope,
    hooks: dict[str, Any] | None,
    parent: dict[str, Any],
    boundary_id: str,
    prefix: str,
) -> tuple[bool, Exception | None]:
    """executeTmplLifeCycleHook (hooks.go, v3.7.18): hooks other than ``exit`` run when
    their expression holds (and keep running once started)."""
    from .execute import Opts, execute_template

    started = []
    for name, hook in (hooks or {}).items():
        if name == "exit":
            continue
        node_name = hook_name(parent["name"], name)
        existing = op.nodes.by_name(node_name)
        if not hook.get("expression"):
            return False, TemplateError(f"Expression required for hook {node_name}")
        try:
            execute = _evaluate_bool(hook["expression"], scope.parameters(op.globals))
        except TemplateError as err:
            return False, err
        if not execute and existing is None:
            continue
        outputs = parent.get("outputs")
        last = op.nodes.last_attempt(parent)
        if last is not None:
            outputs = last.get("outputs")
        args = hook.get("arguments") or {}
        if (args.get("parameters") or args.get("artifacts")) and outputs is not None:
            try:
                args = resolve_exit_arguments(op, args, prefix, outputs, scope)
            except TemplateError as err:
                return False, err
        node, err = execute_template(
            op,
            node_name,
            {"template": hook.get("template")},
            args,
            Opts(boundary_id=boundary_id, flag={"hooked": True}),
        )
        if err is not None:
            return False, err
        op.nodes.add_child(parent["name"], node_name)
        started.append(node)
    return all(n is not None and fulfilled(n) for n in started), None


def workflow_hooks(op: Operator) -> tuple[bool, Exception | None]:
    """executeWfLifeCycleHook (hooks.go, v3.7.18): workflow-level hooks on the globals."""
    from .execute import Opts, execute_template

    started = []
    for name, hook in (op.spec.get("hooks") or {}).items():
        if name == "exit":
            continue
        node_name = hook_name(op.name, name)
        existing = op.nodes.by_name(node_name)
        if not hook.get("expression"):
            return True, TemplateError(f"Expression required for hook {node_name}")
        try:
            execute = _evaluate_bool(hook["expression"], dict(op.globals))
        except TemplateError as err:
            return True, err
        if execute or existing is not None:
            node, err = execute_template(
                op,
                node_name,
                {"template": hook.get("template")},
                hook.get("arguments") or {},
                Opts(flag={"hooked": True}),
            )
            if err is not None:
                return True, err
            op.nodes.add_child(op.name, node_name)
            started.append(node)
    return all(n is not None and fulfilled(n) for n in started), None

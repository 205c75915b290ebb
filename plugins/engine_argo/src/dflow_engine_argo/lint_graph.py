"""Lint checks of steps and DAG templates: names, calls, loops, dependencies, scopes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .lint_vars import Scope

if TYPE_CHECKING:
    from .lint import Linter

DEPENDS_RESULTS = (
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
)
_DEPENDS_TOKEN = re.compile(r"[A-Za-z0-9_][-A-Za-z0-9_]*(?:\.[A-Za-z]+)?")


def has_output(tmpl: dict[str, Any]) -> bool:
    return any(
        tmpl.get(k) is not None
        for k in ("container", "script", "containerSet", "data", "http", "plugin")
    )


def add_outputs(
    scope: Scope, prefix: str, tmpl: dict[str, Any] | None, aggregate: bool, status: bool
) -> None:
    """What ``steps.X`` / ``tasks.X`` offers once X has run (Argo's addOutputsToScope)."""
    names = scope.names
    names |= {f"{prefix}.{k}" for k in ("id", "startedAt", "finishedAt", "hostNodeName")}
    if status:
        names.add(f"{prefix}.status")
    if tmpl is None:  # a templateRef: its outputs are unknown here
        scope.wildcards.add(prefix + ".")
        return
    if tmpl.get("daemon"):
        names.add(f"{prefix}.ip")
    if has_output(tmpl):
        names |= {f"{prefix}.outputs.result", f"{prefix}.exitCode"}
    outputs = tmpl.get("outputs") or {}
    for kind in ("parameters", "artifacts"):
        for out in outputs.get(kind) or []:
            names.add(f"{prefix}.outputs.{kind}.{out.get('name')}")
    if aggregate:
        names.add(f"{prefix}.outputs.parameters")
        if tmpl.get("script") is not None or tmpl.get("containerSet") is not None:
            names |= {f"{prefix}.outputs.result", f"{prefix}.exitCode"}


def add_items(linter: Linter, holder: dict[str, Any], path: str, scope: Scope) -> None:
    loops = [
        k for k in ("withItems", "withParam", "withSequence") if holder.get(k) not in (None, "", [])
    ]
    if len(loops) > 1:
        linter.error(
            path,
            f"only one of withItems, withParam, withSequence can be specified (has {', '.join(loops)})",
        )
    if not loops:
        return
    if loops[0] == "withParam":
        scope.any_item = True
        return
    keys: set[str] = set()
    if loops[0] == "withItems":
        for item in holder["withItems"]:
            if isinstance(item, dict):
                keys |= set(item)
            elif isinstance(item, list):
                keys |= {f"[{i}]" for i in range(len(item))}
    else:
        seq = holder["withSequence"]
        if seq.get("count") is not None and seq.get("end") is not None:
            linter.error(f"{path}.withSequence", "only one of count or end can be defined")
    scope.item_keys = keys


def check_call(
    linter: Linter, holder: dict[str, Any], path: str
) -> tuple[dict[str, Any] | None, bool]:
    """Check what a step/task calls and with which arguments."""
    tmpl, known = linter.resolve_call(holder, path)
    args = holder.get("arguments") or {}
    linter.check_arguments(args, f"{path}.arguments")
    if tmpl is not None:
        linter.check_inputs_supplied(tmpl, args, f"{path}.arguments")
    return tmpl, known


def check_steps(linter: Linter, tmpl: dict[str, Any], path: str, scope: Scope) -> Scope:
    """A steps template; returns the scope its outputs see (every step has run)."""
    groups = tmpl.get("steps") or []
    order: dict[str, int] = {}
    for g, group in enumerate(groups):
        for step in group if isinstance(group, list) else []:
            if isinstance(step, dict) and step.get("name") and step["name"] not in order:
                order[step["name"]] = g
    visible = scope.copy()
    visible.sibling_kind = "step"
    seen: set[str] = set()
    for g, group in enumerate(groups):
        done = []
        for j, step in enumerate(group if isinstance(group, list) else []):
            spath = f"{path}.steps[{g}][{j}]"
            name = step.get("name")
            if not name:
                linter.error(f"{spath}.name", "is required")
                continue
            linter.check_field_name(name, f"{spath}.name", "step")
            if name in seen:
                linter.error(
                    f"{spath}.name",
                    f"step name '{name}' is not unique in template '{tmpl.get('name')}'",
                )
            seen.add(name)
            called, _ = check_call(linter, step, spath)
            step_scope = visible.copy()
            for other, og in order.items():
                if og >= g and f"steps.{other}.id" not in step_scope.names:
                    when = "in the same group as" if og == g else "after"
                    step_scope.siblings[other] = (
                        f"step '{other}' runs {when} step '{name}': only steps of earlier groups can be referenced"
                    )
            hooks = step.get("hooks") or {}
            if hooks or step.get("onExit"):
                add_outputs(step_scope, f"steps.{name}", called, False, True)
            add_items(linter, step, spath, step_scope)
            linter.check_hooks(hooks, f"{spath}.hooks", step_scope)
            linter.scan({k: v for k, v in step.items() if k != "hooks"}, spath, step_scope)
            aggregate = bool(step.get("withItems") or step.get("withParam"))
            done.append((name, called, aggregate))
        for name, called, aggregate in done:
            add_outputs(visible, f"steps.{name}", called, aggregate, True)
    visible.siblings = {}
    return visible


def parse_depends(expr: str) -> list[tuple[str, str | None]]:
    """(task, result) pairs of a ``depends`` expression such as ``(a || b.Failed) && !c``."""
    out = []
    for token in _DEPENDS_TOKEN.findall(expr):
        name, _, result = token.partition(".")
        out.append((name, result or None))
    return out


def check_dag(linter: Linter, tmpl: dict[str, Any], path: str, scope: Scope) -> Scope:
    """A DAG template; returns the scope its outputs see (every task has run)."""
    dag = tmpl["dag"]
    tasks = [t for t in dag.get("tasks") or [] if isinstance(t, dict)]
    tname = tmpl.get("name")
    if not tasks:
        linter.error(f"{path}.dag.tasks", f"template '{tname}' must have at least one task")
        return scope
    by_name: dict[str, int] = {}
    for i, task in enumerate(tasks):
        name = task.get("name")
        if not name:
            linter.error(f"{path}.dag.tasks[{i}].name", "is required")
        elif name in by_name:
            linter.error(
                f"{path}.dag.tasks[{i}].name",
                f"task name '{name}' is not unique in template '{tname}'",
            )
        else:
            linter.check_field_name(name, f"{path}.dag.tasks[{i}].name", "task")
            by_name[name] = i
    using_depends = any(t.get("depends") for t in tasks)
    deps: dict[str, list[str]] = {}
    called: dict[str, dict[str, Any] | None] = {}
    for i, task in enumerate(tasks):
        tpath, name = f"{path}.dag.tasks[{i}]", task.get("name") or f"#{i}"
        if using_depends and task.get("dependencies"):
            linter.error(
                tpath, "cannot use both 'depends' and 'dependencies' in the same DAG template"
            )
        if using_depends and task.get("continueOn"):
            linter.error(
                f"{tpath}.continueOn",
                "cannot be used with 'depends': use 'dep-task.Failed'/'dep-task.Errored'",
            )
        if (using_depends or task.get("dependencies")) and name[:1].isdigit():
            linter.error(
                f"{tpath}.name",
                f"task name '{name}' cannot begin with a digit when using 'depends' or 'dependencies'",
            )
        pairs: list[tuple[str, str | None]] = [(d, None) for d in task.get("dependencies") or []]
        if task.get("depends"):
            pairs += parse_depends(task["depends"])
        deps[name] = []
        for dep, result in pairs:
            where = f"{tpath}.depends" if task.get("depends") else f"{tpath}.dependencies"
            if dep not in by_name:
                linter.error(
                    where,
                    f"dependency '{dep}' is not a task of template '{tname}' (tasks: {', '.join(by_name)})",
                )
                continue
            if result is not None and result not in DEPENDS_RESULTS:
                linter.error(
                    where,
                    f"'{dep}.{result}' is not a task result (one of: {', '.join(DEPENDS_RESULTS)})",
                )
            if result in ("AnySucceeded", "AllFailed"):
                looped = tasks[by_name[dep]]
                if not (
                    looped.get("withItems") or looped.get("withParam") or looped.get("withSequence")
                ):
                    linter.error(where, f"'{dep}.{result}' needs task '{dep}' to loop over items")
            if dep not in deps[name]:
                deps[name].append(dep)
        called[name], _ = check_call(linter, task, tpath)
    cycle = find_cycle(deps)
    if cycle:
        linter.error(f"{path}.dag.tasks", f"dependency cycle: {' -> '.join(cycle)}")
    target = dag.get("target") or ""
    for t in str(target).split():
        if t not in by_name and not t.startswith("{{"):
            linter.error(f"{path}.dag.target", f"target '{t}' is not a task of template '{tname}'")
    final = scope.copy()
    final.sibling_kind = "task"
    for i, task in enumerate(tasks):
        name = task.get("name") or f"#{i}"
        tpath = f"{path}.dag.tasks[{i}]"
        ancestors = ancestry(name, deps)
        task_scope = scope.copy()
        task_scope.sibling_kind = "task"
        for other in by_name:
            if other in ancestors:
                o = tasks[by_name[other]]
                aggregate = bool(o.get("withItems") or o.get("withParam"))
                add_outputs(task_scope, f"tasks.{other}", called.get(other), aggregate, True)
            elif other != name:
                task_scope.siblings[other] = (
                    f"task '{other}' is not a dependency of task '{name}': add it to depends"
                )
        hooks = task.get("hooks") or {}
        if hooks or task.get("onExit"):
            add_outputs(task_scope, f"tasks.{name}", called.get(name), False, True)
        else:
            task_scope.siblings[name] = f"task '{name}' cannot read its own outputs"
        add_items(linter, task, tpath, task_scope)
        linter.check_hooks(hooks, f"{tpath}.hooks", task_scope)
        linter.scan({k: v for k, v in task.items() if k != "hooks"}, tpath, task_scope)
        o_aggregate = bool(task.get("withItems") or task.get("withParam"))
        add_outputs(final, f"tasks.{name}", called.get(name), o_aggregate, True)
    return final


def ancestry(name: str, deps: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    todo = list(deps.get(name, []))
    while todo:
        d = todo.pop()
        if d not in out:
            out.add(d)
            todo += deps.get(d, [])
    return out


def find_cycle(deps: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in deps.get(n, []):
            if state.get(d) == 1:
                return stack[stack.index(d) :] + [d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in deps:
        if n not in state and (found := visit(n)):
            return found
    return None

"""DAG templates: tasks run when their ``depends``/``dependencies`` allow
(workflow/controller/dag.go and workflow/common/ancestry.go, v3.7.18; same rules in v4.1.2)."""

from __future__ import annotations

import copy
import json
import re
from typing import TYPE_CHECKING, Any

from . import hooks
from .execute import Opts, execute_template
from .memo import save_memoized
from .nodes import failed_or_error, fulfilled
from .scope import Scope, add_aggregate, add_outputs, build_local, template_outputs
from .steps import continues_on, expand, should_execute, should_expand
from .templating import TemplateError, evaluate, replace, replace_object

if TYPE_CHECKING:
    from .controller import Operator

# ancestry.go (v3.7.18): "A.Succeeded" style results, or bare task names
_TASK = re.compile(r"([a-zA-Z0-9][-a-zA-Z0-9]*?\.[A-Z][a-zA-Z]+)|([a-zA-Z0-9][-a-zA-Z0-9]*)")


class DagContext:
    """dagContext (dag.go, v3.7.18)."""

    def __init__(
        self, op: Operator, name: str, node: dict[str, Any], tmpl: dict[str, Any], on_exit: bool
    ) -> None:
        self.op = op
        self.boundary_name = name
        self.boundary_id = node["id"]
        self.tmpl = tmpl
        self.tasks = {t["name"]: t for t in tmpl["dag"]["tasks"]}
        self.order = [t["name"] for t in tmpl["dag"]["tasks"]]
        self.visited: set[str] = set()
        self.on_exit = on_exit
        self._deps: dict[str, tuple[list[str], str]] = {}

    def task_node_name(self, task: str) -> str:
        return f"{self.boundary_name}.{task}"

    def task_node(self, task: str) -> dict[str, Any] | None:
        return self.op.nodes.by_name(self.task_node_name(task))

    def dependencies(self, task: str) -> list[str]:
        return self._resolve(task)[0]

    def depends_logic(self, task: str) -> str:
        return self._resolve(task)[1]

    def _resolve(self, task: str) -> tuple[list[str], str]:
        """GetTaskDependencies (ancestry.go, v3.7.18): ``dependencies`` become a ``depends``
        of ``(A.Succeeded || A.Skipped || A.Daemoned)`` plus the task's continueOn phases."""
        if task in self._deps:
            return self._deps[task]
        t = self.tasks[task]
        depends = t.get("depends") or " && ".join(
            expand_dependency(d, self.tasks[d]) for d in t.get("dependencies") or []
        )
        deps: dict[str, None] = {}
        bare: list[tuple[int, int, str]] = []
        for m in _TASK.finditer(depends):
            if m.group(1):
                deps.setdefault(m.group(1).split(".")[0])
            else:
                deps.setdefault(m.group(2))
                bare.append((m.start(2), m.end(2), m.group(2)))
        for start, end, name in sorted(bare, reverse=True):
            if name not in self.tasks:
                raise TemplateError(f"task '{task}' depends on unknown task '{name}'")
            depends = depends[:start] + expand_dependency(name, self.tasks[name]) + depends[end:]
        self._deps[task] = (list(deps), depends)
        return self._deps[task]

    def finished_at(self, task: str) -> str:
        node = self.task_node(task)
        if node is None:
            return ""
        return node.get("finishedAt") or node.get("startedAt") or ""

    def ancestry(self, task: str) -> list[str]:
        """GetTaskAncestry (ancestry.go, v3.7.18): ancestors ordered by finish time."""
        seen: dict[str, str] = {}

        def walk(cur: str) -> None:
            if cur in seen:
                return
            for dep in self.dependencies(cur):
                walk(dep)
            if cur != task and cur not in seen:
                seen[cur] = self.finished_at(cur)

        walk(task)
        return sorted(seen, key=lambda t: seen[t])


def expand_dependency(name: str, task: dict[str, Any]) -> str:
    """expandDependency (ancestry.go, v3.7.18)."""
    results = [f"{name}.Succeeded", f"{name}.Skipped", f"{name}.Daemoned"]
    cont = task.get("continueOn") or {}
    if cont.get("error"):
        results.append(f"{name}.Errored")
    if cont.get("failed"):
        results.append(f"{name}.Failed")
    return "(" + " || ".join(results) + ")"


def leaf_tasks(ctx: DagContext) -> list[str]:
    """findLeafTaskNames (dag.go, v3.7.18): tasks nothing depends on, sorted."""
    leaf = {t: True for t in ctx.order}
    for t in ctx.order:
        for dep in ctx.dependencies(t):
            leaf[dep] = False
    return sorted(t for t, is_leaf in leaf.items() if is_leaf)


def execute_dag(
    op: Operator, name: str, tmpl: dict[str, Any], holder: dict[str, Any], opts: Opts
) -> tuple[dict[str, Any], Exception | None]:
    """executeDAG (dag.go, v3.7.18)."""
    from .execute import initialize_executable

    node = op.nodes.by_name(name)
    if node is None:
        node = initialize_executable(op, name, "DAG", tmpl, holder, opts, "Running")
    ctx = DagContext(op, name, node, tmpl, opts.on_exit)
    target = tmpl["dag"].get("target")
    targets = target.split(" ") if target else leaf_tasks(ctx)
    exit_done = True
    for task in targets:
        execute_task(op, ctx, task)
        tnode = ctx.task_node(task)
        if tnode is not None:
            scope = local_scope(op, ctx, ctx.tasks[task])
            scope.add(f"tasks.{task}.status", tnode["phase"])
            _, err = hooks.template_hooks(
                op, scope, ctx.tasks[task].get("hooks"), tnode, ctx.boundary_id, "tasks." + task
            )
            if err is not None:
                op.nodes.mark_error(name, str(err))
                return node, err
            if fulfilled(tnode) and tnode["phase"] != "Omitted":
                ex = op.nodes.by_name(f"{tnode['name']}.onExit")
                if ex is not None and not fulfilled(ex):
                    exit_done = False
    phase, to_complete = assess(ctx, targets, bool(op.shutdown) and exit_done and not opts.on_exit)
    for group, group_phase in to_complete.items():
        op.nodes.mark(group, group_phase)
    if phase == "Running":
        return node, None
    if phase in ("Failed", "Error"):
        update_outbound(op, ctx, targets, name)
        op.nodes.mark(name, phase)
        return node, None
    scope = Scope(tmpl)
    for tname in ctx.order:
        tnode = ctx.task_node(tname)
        if tnode is None:
            continue
        prefix = f"tasks.{tname}"
        if tnode["type"] == "TaskGroup":
            add_aggregate(scope, prefix, [op.nodes.get(c) for c in tnode.get("children") or []])
        build_local(op.nodes, scope, prefix, tnode)
        scope.add_skipped_outputs(
            prefix, tnode, op.template(ctx.tasks[tname].get("template")), False
        )
        op.add_outputs_to_global(tnode.get("outputs"))
    try:
        outputs = template_outputs(tmpl, scope)
    except TemplateError as err:
        return node, err
    if outputs is not None:
        node["outputs"] = outputs
    if node.get("memoizationStatus"):
        save_memoized(op, node)
    update_outbound(op, ctx, targets, name)
    return op.nodes.mark(name, "Succeeded"), None


def assess(ctx: DagContext, targets: list[str], shutdown: bool) -> tuple[str, dict[str, str]]:
    """assessDAGPhase (dag.go, v3.7.18): a breadth-first walk from the DAG's children; an
    omitted task takes the phase of its branch; failFast (default true) stops at a failure."""
    if shutdown:
        return "Failed", {}
    nodes = ctx.op.status["nodes"]
    phases = {ctx.op.nodes.id(ctx.task_node_name(t)): "" for t in targets}
    boundary = nodes[ctx.boundary_id]
    queue = [(c, "Succeeded") for c in boundary.get("children") or []]
    queued = {c for c, _ in queue}
    to_complete: dict[str, str] = {}
    while queue:
        nid, branch = queue.pop(0)
        node = nodes.get(nid)
        if node is None:
            return "Running", to_complete
        if not fulfilled(node):
            group = completable_group(node, nodes)
            if group is None:
                return "Running", to_complete
            to_complete[node["name"]] = group
            branch = group
        elif node["phase"] != "Omitted":
            branch = node["phase"]
        if nid in phases and phases[nid] not in ("Failed", "Error"):
            phases[nid] = branch
        if node["type"] == "Retry":
            children = retry_children_ids(node, nodes)
        else:
            children = node.get("children") or []
        for c in children:
            if c not in queued:
                queued.add(c)
                queue.append((c, branch))
    fail_fast = ctx.tmpl["dag"].get("failFast")
    fail_fast = True if fail_fast is None else bool(fail_fast)
    result = "Succeeded"
    for t in targets:
        branch = phases[ctx.op.nodes.id(ctx.task_node_name(t))]
        if branch == "":
            result = "Running"
            if not fail_fast:
                break
        elif branch in ("Failed", "Error"):
            if continues_on(ctx.tasks[t], branch):
                continue
            result = branch
            if fail_fast:
                break
    return result, to_complete


def retry_children_ids(node: dict[str, Any], nodes: dict[str, Any]) -> list[str]:
    """getRetryNodeChildrenIds (operator.go, v3.7.18): hooks, and the children of attempts."""
    out: list[str] = []
    for cid in reversed(node.get("children") or []):
        child = nodes.get(cid)
        if child is None:
            continue
        if (child.get("nodeFlag") or {}).get("hooked"):
            out.append(cid)
        else:
            out += child.get("children") or []
    return out


def completable_group(node: dict[str, Any], nodes: dict[str, Any]) -> str | None:
    """completableTaskGroupPhase (dag.go, v3.7.18)."""
    if node["type"] != "TaskGroup" or not node.get("children"):
        return None
    phase = "Succeeded"
    for cid in node["children"]:
        child = nodes.get(cid)
        if child is None or not fulfilled(child):
            return None
        if failed_or_error(child):
            phase = child["phase"]
    return phase


def update_outbound(op: Operator, ctx: DagContext, targets: list[str], name: str) -> None:
    """updateOutboundNodesForTargetTasks (dag.go, v3.7.18)."""
    out: list[str] = []
    for t in targets:
        tnode = ctx.task_node(t)
        if tnode is not None:
            out += op.nodes.outbound(tnode["id"])
    op.nodes.by_name(name)["outboundNodes"] = out


def local_scope(op: Operator, ctx: DagContext, task: dict[str, Any]) -> Scope:
    """buildLocalScopeFromTask (dag.go, v3.7.18): outputs of the task's ancestors."""
    scope = Scope(ctx.tmpl)
    add_outputs(scope, "workflow", op.status.get("outputs"))
    for anc in ctx.ancestry(task["name"]):
        anode = ctx.task_node(anc)
        if anode is None:
            raise TemplateError(f"Ancestor task node {anc} not found")
        prefix = f"tasks.{anc}"
        if anode["type"] == "TaskGroup":
            kids = [
                n
                for n in op.status["nodes"].values()
                if n.get("boundaryID") == ctx.boundary_id
                and n["name"].startswith(anode["name"] + "(")
            ]
            add_aggregate(scope, prefix, kids)
        build_local(op.nodes, scope, prefix, anode)
        scope.add_skipped_outputs(prefix, anode, op.template(ctx.tasks[anc].get("template")), False)
    return scope


def evaluate_depends(ctx: DagContext, task: str) -> tuple[bool, bool]:
    """evaluateDependsLogic (dag.go, v3.7.18): (execute, proceed)."""
    if ctx.task_node(task) is not None:
        return True, True
    env: dict[str, dict[str, bool]] = {}
    for dep in ctx.dependencies(task):
        dnode = ctx.task_node(dep)
        if dnode is None or not fulfilled(dnode) or not hooks_fulfilled(ctx.op, dnode):
            return False, False
        key = dep.replace("-", "_")
        if key in env:
            continue
        any_ok, all_failed = False, False
        if dnode["type"] == "TaskGroup":
            kids = [ctx.op.nodes.get(c) for c in dnode.get("children") or []]
            all_failed = bool(kids)
            for k in kids:
                any_ok = any_ok or (k is not None and k["phase"] == "Succeeded")
                all_failed = all_failed and k is not None and k["phase"] == "Failed"
        phase = dnode["phase"]
        env[key] = {
            "Succeeded": phase == "Succeeded",
            "Failed": phase == "Failed",
            "Errored": phase == "Error",
            "Skipped": phase == "Skipped",
            "Omitted": phase == "Omitted",
            "Daemoned": False,
            "AnySucceeded": any_ok,
            "AllFailed": all_failed,
        }
    logic = ctx.depends_logic(task).replace("-", "_")
    try:
        result = evaluate(logic, {f"{k}.{r}": v for k, res in env.items() for r, v in res.items()})
    except TemplateError as err:
        raise TemplateError(f"unable to evaluate expression '{logic}': {err}")
    return result is True, True


def hooks_fulfilled(op: Operator, node: dict[str, Any]) -> bool:
    """CheckAllHooksFullfilled (workflow/common/util.go, v3.7.18)."""
    for cid in node.get("children") or []:
        child = op.nodes.get(cid)
        if (
            child is not None
            and (child.get("nodeFlag") or {}).get("hooked")
            and not fulfilled(child)
        ):
            return False
    return True


def execute_task(op: Operator, ctx: DagContext, task_name: str) -> None:
    """executeDAGTask (dag.go, v3.7.18): run a task once its dependencies allow it,
    recursing into them first."""
    from .controller import ERR_DEADLINE, ERR_PARALLELISM, ERR_TIMEOUT

    if task_name in ctx.visited:
        return
    ctx.visited.add(task_name)
    node = ctx.task_node(task_name)
    task = ctx.tasks[task_name]
    if node is not None and (fulfilled(node) or node["phase"] == "Running"):
        scope = local_scope(op, ctx, task)
        scope.add(f"tasks.{task_name}.status", node["phase"])
        done, err = hooks.template_hooks(
            op, scope, task.get("hooks"), node, ctx.boundary_id, "tasks." + task_name
        )
        if err is not None:
            op.nodes.mark_error(node["name"], str(err))
        if not done:
            return
    if node is not None and fulfilled(node):
        if node["phase"] in ("Succeeded", "Failed", "Error", "Skipped"):
            scope = local_scope(op, ctx, task)
            scope.add(f"tasks.{task_name}.status", node["phase"])
            hooks.run_on_exit(
                op, task, node, ctx.boundary_id, "tasks." + task_name, scope, ctx.on_exit
            )
        return
    node_name = ctx.task_node_name(task_name)
    deps = ctx.dependencies(task_name)
    group = op.nodes.by_name(node_name)
    if group is not None and group["type"] != "TaskGroup":
        group = None

    def connect(child_name: str) -> None:
        if not deps or group is not None:
            op.nodes.add_child(
                group["name"] if group is not None else ctx.boundary_name, child_name
            )
            return
        for dep in deps:
            dnode = ctx.task_node(dep)
            for out in op.nodes.outbound(dnode["id"]):
                op.nodes.add_child(op.nodes.get(out)["name"], child_name)

    def skipped(phase: str, message: str) -> None:
        op.nodes.initialize(
            node_name,
            "Skipped",
            op.scope_name,
            task.get("template"),
            ctx.boundary_id,
            phase,
            {},
            message,
        )
        connect(node_name)

    if ctx.depends_logic(task_name):
        for dep in deps:
            execute_task(op, ctx, dep)
        try:
            execute, proceed = evaluate_depends(ctx, task_name)
        except TemplateError as err:
            skipped("Error", str(err))
            return
        if not proceed:
            return
        if not execute:
            skipped("Omitted", "omitted: depends condition not met")
            return
    try:
        new_task = resolve_dependency_references(op, ctx, task)
    except TemplateError as err:
        if err.missing:
            return  # ErrRequeue
        skipped("Error", str(err))
        return
    try:
        expanded = expand(new_task, local_scope(op, ctx, new_task).parameters(op.globals))
    except TemplateError as err:
        skipped("Error", str(err))
        return
    if should_expand(task):
        if not expanded:
            skipped("Skipped", "Skipped, empty params")
        elif group is None:
            connect(node_name)
            group = op.nodes.initialize(
                node_name,
                "TaskGroup",
                op.scope_name,
                task.get("template"),
                ctx.boundary_id,
                "Running",
                {},
            )
    for t in expanded:
        tname = ctx.task_node_name(t["name"])
        tnode = op.nodes.by_name(tname)
        if tnode is None:
            connect(tname)
            try:
                proceed = should_execute(t.get("when"))
            except TemplateError as err:
                op.nodes.initialize(
                    tname,
                    "Skipped",
                    op.scope_name,
                    task.get("template"),
                    ctx.boundary_id,
                    "Error",
                    {},
                    str(err),
                )
                continue
            if not proceed:
                op.nodes.initialize(
                    tname,
                    "Skipped",
                    op.scope_name,
                    task.get("template"),
                    ctx.boundary_id,
                    "Skipped",
                    {},
                    f"when '{t['when']}' evaluated false",
                )
                continue
        holder = {
            "template": t.get("template"),
            "inline": t.get("inline"),
            "_kind": "task",
            "name": t["name"],
        }
        tnode, err = execute_template(
            op,
            tname,
            holder,
            t.get("arguments") or {},
            Opts(boundary_id=ctx.boundary_id, on_exit=ctx.on_exit),
        )
        if err is not None:
            if err is ERR_DEADLINE:
                return
            if err is ERR_TIMEOUT:
                op.nodes.mark(tname, "Failed", str(err))
                return
            if err is not ERR_PARALLELISM:
                op.nodes.mark_error(tname, f"task '{tname}' errored: {err}")
                return
        if tnode is None:
            return
        if tnode["phase"] in ("Succeeded", "Failed", "Error", "Skipped"):
            scope = local_scope(op, ctx, task)
            scope.add(f"tasks.{task_name}.status", tnode["phase"])
            has, exit_node, err = hooks.run_on_exit(
                op, task, tnode, ctx.boundary_id, "tasks." + task_name, scope, ctx.on_exit
            )
            if has and (exit_node is None or not fulfilled(exit_node) or err is not None):
                return
    if group is not None:
        phase = "Succeeded"
        for t in expanded:
            tnode = ctx.task_node(t["name"])
            if tnode is None or not fulfilled(tnode):
                return
            if failed_or_error(tnode):
                phase = tnode["phase"]
        op.nodes.mark(group["name"], phase)


def resolve_dependency_references(
    op: Operator, ctx: DagContext, task: dict[str, Any]
) -> dict[str, Any]:
    """resolveDependencyReferences (dag.go, v3.7.18)."""
    scope = local_scope(op, ctx, task)
    params = scope.parameters(op.globals)
    task = copy.deepcopy(task)
    hooks_ = task.pop("hooks", None)
    if task.get("when"):
        when = json.loads(
            replace(json.dumps(task["when"]), params, strict_prefixes=("tasks", "steps"))
        )
        try:
            proceed = should_execute(when)
        except TemplateError:
            if not should_expand(task):
                raise
            proceed = True
        if not proceed:
            task["when"] = when
            if hooks_ is not None:
                task["hooks"] = hooks_
            return task
    task["arguments"] = scope.mark_absent_optional_args(task.get("arguments") or {})
    task = replace_object(task, params, strict_prefixes=("tasks", "steps"))
    if hooks_ is not None:
        task["hooks"] = hooks_
    arts = []
    for art in (task.get("arguments") or {}).get("artifacts") or []:
        if not art.get("from") and not art.get("fromExpression"):
            arts.append(art)
            continue
        try:
            resolved = scope.resolve_artifact(art)
        except TemplateError as err:
            if "Unable to resolve" in str(err) and art.get("optional"):
                continue
            raise
        resolved = dict(resolved)
        resolved["name"] = art["name"]
        arts.append(resolved)
    if (task.get("arguments") or {}).get("artifacts") is not None:
        task["arguments"]["artifacts"] = arts
    return task

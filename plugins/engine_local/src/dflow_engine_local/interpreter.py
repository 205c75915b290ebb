"""Walk a workflow: Steps groups, DAG dependencies, loops, conditions, template outputs.

Everything runs on one asyncio event loop: structure nodes are coroutines (a 10,000-item
fan-out costs coroutines, not threads or processes), leaves run in the warm pool or as
subprocesses (:mod:`leaves`). Node ids are deterministic (the step's key, else a digest of
its path in the workflow), so a resubmitted run finds its journaled nodes again: a node
journaled ``Succeeded`` is not run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import attrs
from dflow import expressions as ex
from dflow.model.dag import DAG
from dflow.model.io import (
    MISSING,
    ArgoVar,
    IfExpression,
    OutputArtifact,
    contains_var,
    output_parameter_type,
)
from dflow.model.steps import Steps
from dflow.semantics import (
    EMPTY_LOOP_MESSAGE,
    OMITTED_MESSAGE,
    continues,
    depends_expression,
    depends_met,
)
from dflow.serialization import load_value, type_name

from .artifacts import merge_stacked, resolve_artifact
from .batch import fan_out_batch
from .fanout import run_items
from .hooks import fire as fire_hooks
from .hooks import step_hooks
from .journal import TERMINAL, Node
from .leaves import LeafRunner
from .values import (
    Result,
    StepError,
    default_text,
    item_label,
    param_type,
    parse_items,
    render_text,
    sequence_items,
    value_text,
    when_true,
)

FAILED = ("Failed", "Error")


@attrs.define(eq=False)
class Frame:
    """One running instance of a Steps or DAG template."""

    template: Any
    node: Node
    path: str
    params: dict[str, str]
    arts: dict[str, str | None]
    kind: str  # "steps" | "tasks"
    results: dict[str, Result] = attrs.field(factory=dict)
    sem: asyncio.Semaphore | None = None

    def scope(self, run: Any, item: Any = MISSING) -> dict[str, Any]:
        scope = {
            "inputs": {
                "parameters": dict(self.params),
                "artifacts": {k: v for k, v in self.arts.items() if v is not None},
            },
            self.kind: {name: r.scope() for name, r in self.results.items()},
            "workflow": run.workflow_scope(),
        }
        if item is not MISSING:
            scope["item"] = item
        return scope


class Interpreter(LeafRunner):
    """Runs templates; the engine's :class:`~dflow_engine_local.run.Run` mixes this in."""

    # -- template instances ----------------------------------------------------------------

    async def run_frame(self, frame: Frame) -> Result:
        """Run a Steps/DAG instance; return its Result with the template's outputs."""
        tmpl = frame.template
        if tmpl.parallelism:
            frame.sem = asyncio.Semaphore(int(tmpl.parallelism))
        if isinstance(tmpl, Steps):
            phase, message = await self._run_steps(frame)
        else:
            phase, message = await self._run_dag(frame)
        result = Result(phase, frame.node.id, message=message)
        self.template_outputs(frame, result)
        return result

    async def _run_steps(self, frame: Frame) -> tuple[str, str]:
        for gi, group in enumerate(frame.template.steps):
            if self.stopping:
                return "Failed", self.stop_message
            results = await asyncio.gather(
                *(self.run_step(frame, s, f"{frame.path}[{gi}].{s.name}") for s in group)
            )
            for s, r in zip(group, results, strict=True):
                frame.results[s.name] = r
            for s, r in zip(group, results, strict=True):
                if not continues(s, r.phase):
                    return r.phase, f"child '{s.name}' failed: {r.message}".strip()
        return "Succeeded", ""

    async def _run_dag(self, frame: Frame) -> tuple[str, str]:
        tasks = {t.name: t for t in frame.template.tasks}
        deps = frame.template.dependency_graph()
        running: dict[asyncio.Future, str] = {}
        finished: set[str] = set()
        failed: list[str] = []
        pending = dict(tasks)
        while pending or running:
            for name in list(pending):
                needs = deps.get(name, set()) & set(tasks)
                if not needs <= finished:
                    continue
                task = pending.pop(name)
                if self.stopping or not self._depends_met(frame, task, tasks, needs):
                    why = self.stop_message if self.stopping else OMITTED_MESSAGE
                    frame.results[name] = self.omitted(frame, task, why)
                    finished.add(name)
                    continue
                fut = asyncio.ensure_future(self.run_step(frame, task, f"{frame.path}.{name}"))
                running[fut] = name
            if not running:
                if pending:  # nothing runs and nothing can start: a cycle (validation's job)
                    raise StepError(
                        f"DAG '{frame.template.name}': cyclic dependencies among "
                        f"{', '.join(sorted(pending))}"
                    )
                break
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                name = running.pop(fut)
                res = fut.result()
                frame.results[name] = res
                finished.add(name)
                if not continues(tasks[name], res.phase):
                    failed.append(name)
        if failed:
            r = frame.results[failed[0]]
            return r.phase, f"child '{failed[0]}' failed: {r.message}".strip()
        if self.stopping:
            return "Failed", self.stop_message
        return "Succeeded", ""

    @staticmethod
    def _depends_met(frame: Frame, task: Any, tasks: dict, needs: set[str]) -> bool:
        """The ``depends`` the Argo renderer writes for ``task``, evaluated on the phases its
        dependencies ended in (a Skipped or Omitted dependency omits it)."""
        if not needs:
            return True
        try:
            return depends_met(
                depends_expression(task, tasks), {d: frame.results[d].phase for d in needs}
            )
        except ValueError as exc:
            raise StepError(f"task '{task.name}': {exc}") from None

    def settle_unfinished(self, why: str) -> None:
        """At the end of a run: every node still Pending or Running becomes Error, so a
        finished workflow never shows a step running (an internal error cut it short)."""
        for node in list(self.journal.cache.values()):
            if node.phase not in TERMINAL:
                self.transition(
                    node,
                    "Error",
                    message=f"the run ended before this step finished: {why}".rstrip(": "),
                )

    def omitted(self, frame: Frame, step: Any, why: str) -> Result:
        # Argo's omitted node: type Skipped, phase Omitted (dag.go executeDAGTask, v3.7.18)
        node = self.open_node(
            frame.node,
            f"{frame.path}.{step.name}",
            step.name,
            step.name,
            None,
            "Skipped",
            step.template,
        )
        self.transition(node, "Omitted", message=why)
        return self.skipped_result(step, node.id, "Omitted", why)

    def skipped_result(self, step: Any, node_id: str, phase: str, why: str = "") -> Result:
        """A step that did not run: its outputs are the declared defaults."""
        res = Result(phase, node_id, message=why)
        for name, p in step.template.outputs.parameters.items():
            d = default_text(getattr(p, "default", MISSING))
            if d is not None:
                res.params[name] = d
                res.types[name] = param_type(p)
        return res

    # -- one step of a template -------------------------------------------------------------

    async def run_step(self, frame: Frame, step: Any, path: str) -> Result:
        """when, loops, hooks; then one instance (or one per loop item)."""
        hooks = step_hooks(step)
        if not hooks:
            return await self._run_step(frame, step, path, None)
        fired: set[str] = set()
        started: list[asyncio.Future] = []

        def running() -> None:
            started.extend(
                fire_hooks(self, frame, step, path, hooks, fired, Result("Running", None))
            )

        res = await self._run_step(frame, step, path, running)
        started.extend(fire_hooks(self, frame, step, path, hooks, fired, res))
        await asyncio.gather(*started)
        return res

    async def _run_step(self, frame: Frame, step: Any, path: str, running: Any) -> Result:
        where = f"step '{step.name}'"
        try:
            scope = frame.scope(self)
            if step.when is not None and not when_true(step.when, scope, where):
                node = self.open_node(
                    frame.node, path, step.name, step.name, None, "Skipped", step.template
                )
                self.transition(node, "Skipped", message=f"when '{step.when}' evaluated false")
                return self.skipped_result(step, node.id, "Skipped")
            items, indices = self.loop_items(frame, step, scope)
        except StepError as exc:
            return self.error_node(frame.node, path, step, str(exc))
        if items is not None and not items:
            # a loop without items is skipped, its dependents in a DAG omitted (Argo:
            # workflow/controller/dag.go executeDAGTask and steps.go expandStepGroup, v3.7.18)
            node = self.open_node(
                frame.node, path, step.name, step.name, None, "Skipped", step.template
            )
            self.transition(node, "Skipped", message=EMPTY_LOOP_MESSAGE)
            return self.skipped_result(step, node.id, "Skipped", EMPTY_LOOP_MESSAGE)
        if running is not None:
            running()
        if items is None:
            return await self.run_instance(frame, step, path, step.name, MISSING, None)
        return await self.run_loop(frame, step, path, items, indices)

    def loop_items(self, frame: Frame, step: Any, scope: dict) -> tuple[list | None, list | None]:
        """Loop items and, for sliced Python OPs, each item's slice index (or indices)."""
        where = f"step '{step.name}'"
        slices = step.slices
        items: list | None = None
        if step.with_param is not None:
            if isinstance(step.with_param, list | tuple) and not contains_var(step.with_param):
                items = list(step.with_param)
            else:  # a list holding references is substituted as Argo does, then parsed
                items = parse_items(value_text(step.with_param, scope, where), where)
        elif step.with_sequence is not None:
            items = sequence_items(step.with_sequence, scope, where)
        elif slices is not None and slices.sub_path:
            items = [{"order": i} for i in range(self.sub_path_count(frame, step, scope))]
        if items is None or slices is None:
            return items, None
        indices = []
        for it in items:
            text = render_text(str(slices.slices), {**scope, "item": it}, where)
            try:
                indices.append(int(json.loads(text)))
            except (ValueError, TypeError):
                raise StepError(f"{where}: slice index {text!r} is not an integer") from None
        if slices.group_size:
            size = int(slices.group_size)
            groups = [indices[i : i + size] for i in range(0, len(indices), size)]
            return list(range(len(groups))), groups
        return items, indices

    def sub_path_count(self, frame: Frame, step: Any, scope: dict) -> int:
        from dflow import catalog

        lengths = {}
        for name in step.slices.input_artifact:
            art = step.inputs.artifacts[name]
            path = resolve_artifact(self, frame, art.source, scope, f"step '{step.name}'")
            if path is None:
                continue
            items = catalog.read_catalog(path)
            lengths[name] = len(items) if items else 1
        for name in step.slices.input_parameter:
            p = step.inputs.parameters[name]
            if p.has_value:
                text = value_text(p.value, scope, f"step '{step.name}'")
                lengths[name] = len(load_value(text, list))
        if len(set(lengths.values())) > 1:
            raise StepError(f"step '{step.name}': sliced inputs have different lengths {lengths}")
        return next(iter(lengths.values()), 0)

    async def run_loop(
        self, frame: Frame, step: Any, path: str, items: list, indices: list | None
    ) -> Result:
        group_type = "TaskGroup" if frame.kind == "tasks" else "StepGroup"
        group = self.open_node(
            frame.node, path, step.name, step.name, None, group_type, step.template
        )
        self.transition(group, "Running")
        n = len(items)
        results: list[Result | None] = [None] * n
        limit = int(step.parallelism) if step.parallelism else max(n, 1)
        limit = min(limit, n, 4 * self.settings.pool_workers + 16) or 1
        failfast = self.settings.failfast and not step.continue_on_failed
        # merge_sliced_step: the running items' executor jobs go as one run_batch
        batch = fan_out_batch(self, step, n, limit)

        async def one(i: int) -> Result:
            label = f"{step.name}({item_label(i, items[i])})"
            with batch.item() if batch is not None else contextlib.nullcontext():
                res = await self.run_instance(
                    frame,
                    step,
                    f"{path}({i})",
                    label,
                    items[i],
                    indices[i] if indices is not None else None,
                    group=group,
                    index=i,
                )
            results[i] = res
            return res

        await run_items(self, group, n, limit, failfast, one)
        done = [r for r in results if r is not None]
        res = Result("Succeeded", group.id)
        ok = sum(1 for r in done if r.ok)
        bad = [r for r in done if r.phase in FAILED]
        threshold = None
        if step.continue_on_num_success is not None:
            threshold = int(step.continue_on_num_success)
        elif step.continue_on_success_ratio is not None:
            threshold = float(step.continue_on_success_ratio) * n
        if threshold is not None:
            if ok < threshold:
                res.phase = "Failed"
                res.message = f"{ok} of {n} items succeeded, fewer than required ({threshold:g})"
        elif bad or len(done) < n:
            res.phase = bad[0].phase if bad else "Failed"
            first = bad[0].message if bad else "stopped"
            res.message = f"{len(bad)} of {n} items failed; first: {first}"
        self.aggregate(step, done, res, group)
        self.transition(group, res.phase, message=res.message, outputs=self.outputs_json(res))
        return res

    def aggregate(self, step: Any, done: list[Result], res: Result, group: Node) -> None:
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
                res.arts[name] = merge_stacked(self, group, name, [s for s in srcs if s])

    # -- template outputs -------------------------------------------------------------------

    def template_outputs(self, frame: Frame, res: Result) -> None:
        """A Steps/DAG template's outputs, resolved in its scope once its steps are done.

        Argo's rule (getTemplateOutputsFromScope, workflow/controller/operator.go, v3.7.18
        and v4.1.2): a parameter that cannot be resolved (an expression that fails, a skipped
        step's output) takes its ``default``, else the template's node errors; an artifact
        that cannot be resolved is left out when ``optional`` (or when its step was skipped),
        else the node errors. A template that failed reports what it could resolve.
        """
        tmpl = frame.template
        scope = frame.scope(self)
        where = f"template '{tmpl.name}'"
        problems: list[str] = []
        for name, p in tmpl.outputs.parameters.items():
            try:
                text = self._output_parameter(p, scope, where)
                why = "it has no source"
            except StepError as exc:
                text, why = None, str(exc)
            if text is None:
                text = default_text(p.default)
            if text is None:
                problems.append(f"output parameter '{name}': {why} (give it a default)")
                continue
            res.params[name] = text
            res.types[name] = type_name(output_parameter_type(p)) or self._source_type(frame, p)
        for name, a in tmpl.outputs.artifacts.items():
            try:
                path = self._output_artifact(frame, a, scope, where)
            except (StepError, KeyError) as exc:
                path = None
                if not a.optional and not self._from_skipped(frame, a):
                    problems.append(f"output artifact '{name}': {exc} (or mark it optional)")
            res.arts[name] = path
        if problems and res.ok:
            res.phase = "Error"
            res.message = f"{where}: cannot resolve " + "; ".join(problems)
        self.publish_globals(tmpl, res)

    @staticmethod
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

    def _output_artifact(self, frame: Frame, a: Any, scope: dict, where: str) -> str | None:
        if a._from is not None:
            return resolve_artifact(self, frame, a._from, scope, where)
        if a.from_expression is not None:
            return self._artifact_expression(frame, a.from_expression, scope, where)
        return None

    @staticmethod
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

    def _source_type(self, frame: Frame, p: Any) -> str | None:
        src = p.value_from_parameter
        step = getattr(src, "step", None)
        if step is not None and step.name in frame.results:
            return frame.results[step.name].types.get(src.name)
        return None

    def _artifact_expression(self, frame: Frame, expr: Any, scope: dict, where: str) -> Any:
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
            return resolve_artifact(self, frame, chosen, scope, where)
        if isinstance(expr, str) and not expr.lstrip().startswith("{{"):
            expr = ArgoVar(expr)  # expression text, as Argo's fromExpression takes it
        text = value_text(expr, scope, where)  # artifacts are local paths in the scope
        return text or None

    @staticmethod
    def is_artifact(value: Any) -> bool:
        return isinstance(value, OutputArtifact)

    def instance_frame(self, tmpl: Any, node: Node, path: str, params: dict, arts: dict) -> Frame:
        kind = "tasks" if isinstance(tmpl, DAG) else "steps"
        return Frame(tmpl, node, path, params, arts, kind)

"""Walk a workflow: Steps groups, DAG dependencies, loops, conditions, hooks (:class:`Walker`).

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dflow.model.dag import DAG
from dflow.model.io import MISSING, contains_var
from dflow.model.op_template import HTTPOPTemplate, ScriptOPTemplate
from dflow.model.step import Step
from dflow.model.steps import Steps
from dflow.names import rendered_key_problem
from dflow.runner.threshold import required
from dflow.semantics import (
    EMPTY_LOOP_MESSAGE,
    OMITTED_MESSAGE,
    continues,
    depends_expression,
    depends_met,
)
from dflow.serialization import load_value

from .artifacts import prefetch, resolve_artifact
from .batch import fan_out_batch
from .fanout import run_items
from .hooks import fire as fire_hooks
from .hooks import step_hooks
from .journal import Node
from .layout import StepDir
from .leaf import Leaf
from .leaves import run_leaf
from .nodes import outputs_json, result_of
from .outputs import aggregate, empty_stacked, skipped_result, template_outputs
from .state import Frame, RunContext, SliceIndex
from .stepfiles import order_of, record_outputs, write_inputs
from .stepio import input_artifacts, input_parameters
from .values import (
    Result,
    StepError,
    item_label,
    parse_items,
    render_text,
    sequence_items,
    value_text,
    when_true,
)
from .wfglobals import publish_globals

FAILED = ("Failed", "Error")


class Walker:
    """Walks Steps/DAG templates of one run: groups, dependencies, loops, conditions, hooks;
    each leaf goes to :func:`leaves.run_leaf`, each Steps/DAG step to a frame of its own."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.nodes = ctx.nodes
        self.control = ctx.control

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
        template_outputs(self.ctx, frame, result)
        return result

    async def _run_steps(self, frame: Frame) -> tuple[str, str]:
        assert isinstance(frame.template, Steps)
        for gi, group in enumerate(frame.template.steps):
            if self.control.stopping:
                return "Failed", self.control.stop_message
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
        assert isinstance(frame.template, DAG)
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
                if self.control.stopping or not self._depends_met(frame, task, tasks, needs):
                    why = self.control.stop_message if self.control.stopping else OMITTED_MESSAGE
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
            for ended in done:
                name = running.pop(ended)
                res = ended.result()
                frame.results[name] = res
                finished.add(name)
                if not continues(tasks[name], res.phase):
                    failed.append(name)
        if failed:
            r = frame.results[failed[0]]
            return r.phase, f"child '{failed[0]}' failed: {r.message}".strip()
        if self.control.stopping:
            return "Failed", self.control.stop_message
        return "Succeeded", ""

    @staticmethod
    def _depends_met(frame: Frame, task: Step, tasks: dict, needs: set[str]) -> bool:
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

    def omitted(self, frame: Frame, step: Step, why: str) -> Result:
        # Argo's omitted node: type Skipped, phase Omitted (dag.go executeDAGTask, v3.7.18)
        node = self.nodes.open(
            frame.node,
            f"{frame.path}.{step.name}",
            step.name,
            step.name,
            None,
            "Skipped",
            step.template,
        )
        self.nodes.transition(node, "Omitted", message=why)
        return skipped_result(step, node.id, "Omitted", why)

    # -- one step of a template -------------------------------------------------------------

    async def run_step(self, frame: Frame, step: Step, path: str) -> Result:
        """when, loops, hooks; then one instance (or one per loop item)."""
        hooks = step_hooks(step)
        if not hooks:
            return await self._run_step(frame, step, path, None)
        fired: set[str] = set()
        started: list[asyncio.Future] = []

        def running() -> None:
            started.extend(
                fire_hooks(
                    self.ctx,
                    frame,
                    step,
                    path,
                    hooks,
                    fired,
                    Result("Running", None),
                    self.run_instance,
                )
            )

        res = await self._run_step(frame, step, path, running)
        started.extend(
            fire_hooks(self.ctx, frame, step, path, hooks, fired, res, self.run_instance)
        )
        await asyncio.gather(*started)
        return res

    async def _run_step(
        self, frame: Frame, step: Step, path: str, running: Callable[[], None] | None
    ) -> Result:
        where = f"step '{step.name}'"
        try:
            scope = frame.scope(self.ctx)
            if step.when is not None and not when_true(step.when, scope, where):
                node = self.nodes.open(
                    frame.node, path, step.name, step.name, None, "Skipped", step.template
                )
                self.nodes.transition(
                    node, "Skipped", message=f"when '{step.when}' evaluated false"
                )
                return skipped_result(step, node.id, "Skipped")
            items, indices = self.loop_items(frame, step, scope)
        except StepError as exc:
            return self.nodes.error(frame.node, path, step, str(exc))
        if items is not None and not items:
            # a loop without items is skipped, its dependents in a DAG omitted (Argo:
            # workflow/controller/dag.go executeDAGTask and steps.go expandStepGroup, v3.7.18)
            node = self.nodes.open(
                frame.node, path, step.name, step.name, None, "Skipped", step.template
            )
            self.nodes.transition(node, "Skipped", message=EMPTY_LOOP_MESSAGE)
            res = skipped_result(step, node.id, "Skipped", EMPTY_LOOP_MESSAGE)
            empty_stacked(self.ctx, step, res, node)
            return res
        if running is not None:
            running()
        if items is None:
            return await self.run_instance(frame, step, path, step.name, MISSING, None)
        return await self.run_loop(frame, step, path, items, indices)

    def loop_items(self, frame: Frame, step: Step, scope: dict) -> tuple[list | None, list | None]:
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

    def sub_path_count(self, frame: Frame, step: Step, scope: dict) -> int:
        from dflow import catalog

        lengths = {}
        for name in step.slices.input_artifact:
            art = step.inputs.artifacts[name]
            path = resolve_artifact(self.ctx, frame, art.source, scope, f"step '{step.name}'")
            if path is None:
                continue
            items = catalog.read_catalog(Path(path))
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
        self, frame: Frame, step: Step, path: str, items: list, indices: list | None
    ) -> Result:
        group_type = "TaskGroup" if frame.kind == "tasks" else "StepGroup"
        group = self.nodes.open(
            frame.node, path, step.name, step.name, None, group_type, step.template
        )
        n = len(items)
        # a fan-out's size, as Argo's node progress states it: live views show done/total
        self.nodes.transition(group, "Running", progress=f"0/{n}")
        results: list[Result | None] = [None] * n
        limit = int(step.parallelism) if step.parallelism else max(n, 1)
        limit = min(limit, n, 4 * self.ctx.settings.pool_workers + 16) or 1
        failfast = self.ctx.settings.failfast and not step.continue_on_failed
        # merge_sliced_step: the running items' executor jobs go as one run_batch
        batch = fan_out_batch(self.ctx, step, n, limit)

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

        # several items at once keep both cores busy: the loop writes the layout's files
        with self.ctx.mirror.fan_out() if limit > 1 else contextlib.nullcontext():
            await run_items(self.ctx, group, n, limit, failfast, one)
        done = [r for r in results if r is not None]
        res = Result("Succeeded", group.id)
        ok = sum(1 for r in done if r.ok)
        bad = [r for r in done if r.phase in FAILED]
        # the rule Argo's check step runs too
        threshold = required(n, step.continue_on_num_success, step.continue_on_success_ratio)
        if threshold is not None:
            if ok < threshold:
                res.phase = "Failed"
                res.message = f"{ok} of {n} items succeeded, fewer than required ({threshold:g})"
        elif bad or len(done) < n:
            res.phase = bad[0].phase if bad else "Failed"
            first = bad[0].message if bad else "stopped"
            res.message = f"{len(bad)} of {n} items failed; first: {first}"
        aggregate(self.ctx, step, done, res, group)
        self.nodes.transition(
            group,
            res.phase,
            message=res.message,
            outputs=outputs_json(res),
            progress=f"{len(done)}/{n}",
        )
        return res

    def instance_frame(
        self, tmpl: Steps | DAG, node: Node, path: str, params: dict, arts: dict
    ) -> Frame:
        kind = "tasks" if isinstance(tmpl, DAG) else "steps"
        return Frame(tmpl, node, path, params, arts, kind)

    # -- one instance ----------------------------------------------------------------------

    async def run_instance(
        self,
        frame: Frame,
        step: Step,
        path: str,
        display: str,
        item: Any,
        slice_index: SliceIndex,
        group: Node | None = None,
        index: int | None = None,
    ) -> Result:
        """Run one instance of ``step`` (``index``: its item number in a loop)."""
        parent = group or frame.node
        where = f"step '{display}'"
        tmpl = step.template
        try:
            scope = frame.scope(self.ctx, item)
            key = render_text(step.key, scope, where) if step.key else None
            if key is not None and (problem := rendered_key_problem(key)):
                raise StepError(f"{where}: {problem}")
            node_id = self.nodes.node_id_for(step.name, path, key)
            old = self.ctx.journal.get(node_id)
            if old is not None and old.phase == "Succeeded":
                self.nodes.adopt(old, parent, order_of(self.ctx, frame, step, index))
                res = result_of(old)
                publish_globals(self.ctx, tmpl.outputs, res)
                return res
            params, types, shown = input_parameters(self.ctx, step, scope, where, slice_index)
            await prefetch(self.ctx, [a.source for a in step.inputs.artifacts.values()])
            arts, items = input_artifacts(self.ctx, frame, step, scope, where, slice_index)
        except StepError as exc:
            return self.nodes.error(parent, path, step, str(exc))
        inputs: dict[str, dict[str, dict[str, Any]]] = {
            "parameters": {
                n: {"value": shown.get(n, v), "type": types.get(n)} for n, v in params.items()
            },
            "artifacts": {n: {"local_path": p} for n, p in arts.items() if p is not None},
        }
        if key:
            inputs["parameters"]["dflow_key"] = {"value": key, "type": None}
        if isinstance(tmpl, ScriptOPTemplate | HTTPOPTemplate):
            type_ = "Pod"
        else:
            type_ = "DAG" if hasattr(tmpl, "tasks") else "Steps"
        node = self.nodes.open(
            parent,
            path,
            step.name,
            display,
            key,
            type_,
            tmpl,
            node_id,
            inputs,
            order_of(self.ctx, frame, step, index),
            # a chain's steps (the slices of a fan-out keep both cores busy without one)
            spare=type_ == "Pod" and slice_index is None,
        )
        assert node.dir is not None  # a step (not a loop, not skipped) has its dir
        sd = StepDir(self.ctx.wf_dir, node.dir)
        write_inputs(self.ctx, sd, step, params, types, arts, group, slice_index, key, items)
        if type_ != "Pod":
            assert isinstance(tmpl, Steps | DAG)  # type_ is "Steps" or "DAG"
            self.nodes.transition(node, "Running")
            child = self.instance_frame(tmpl, node, path, params, arts)
            try:
                res = await self.run_frame(child)
            except StepError as exc:
                res = Result("Error", node.id, message=str(exc))
            res.node_id = node.id
            record_outputs(self.ctx, sd, tmpl, res)
            self.nodes.transition(
                node, res.phase, message=res.message, outputs=outputs_json(res, tmpl)
            )
            return res
        leaf = Leaf(step, node, sd, params, arts, slice_index, key)
        res = await run_leaf(self.ctx, frame, leaf)
        if res.ok:
            publish_globals(self.ctx, tmpl.outputs, res)
        return res

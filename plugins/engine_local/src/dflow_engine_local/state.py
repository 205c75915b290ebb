"""What one run owns, as records every part of the engine takes explicitly.

:class:`RunContext` is fixed for the run (the workflow, its directory, the journal, the pool,
the caches); :class:`Control` is the one mutable part (stop and suspend requests, the
workflow's slots, its status); :class:`Frame` is one running Steps/DAG instance. Parts of the
engine are functions of these records (or, for the walker, a class holding one), never a
class mixed into another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from dflow import contexts
from dflow.model.dag import DAG
from dflow.model.io import MISSING
from dflow.model.op_template import OPTemplate
from dflow.model.step import Step
from dflow.model.steps import Steps
from dflow.model.workflow import Workflow

from .config import Resolved
from .journal import Journal, Node
from .mirror import Mirror
from .nodes import NodeBook
from .procs import RunProcesses
from .values import Result, StepError, TextCache

if TYPE_CHECKING:
    from dflow.executor import Executor

    from .echo import LogEcho
    from .pool import WorkerPool


#: a sliced step's slice: an item's index, a group's indices, or None (not sliced)
SliceIndex = int | list[int] | None


@attrs.define
class Control:
    """The run's mutable state: stop/suspend requests, the workflow's slots, its status."""

    stopping: bool = False
    stop_message: str = ""
    run_exit_handler: bool = True
    status: str = "Running"
    cancel: asyncio.Event = attrs.field(factory=asyncio.Event)
    resumed: asyncio.Event = attrs.field(factory=asyncio.Event)
    wf_sem: asyncio.Semaphore | None = None
    script_sem: asyncio.Semaphore | None = None
    default_executor: Any = MISSING  # built on first use: dflow.toml's ``executor``
    cache: Any = None  # the run's [cache] settings, or the error reading them (first use)

    def stop(self, message: str, exit_handler: bool) -> None:
        self.stopping = True
        self.run_exit_handler = exit_handler
        self.stop_message = message
        self.cancel.set()
        self.resumed.set()


@attrs.frozen(eq=False)
class RunContext:
    """Everything a run of ``wf`` as ``wf_id`` in ``wf_dir`` owns."""

    wf: Workflow
    wf_id: str
    wf_dir: str
    settings: Resolved
    journal: Journal
    mirror: Mirror  # step dirs' name/type/phase/children, written off the hot path
    nodes: NodeBook
    pool: WorkerPool | None
    registry_index: dict[int, int]  # Python OP template -> its index in the pool's registry
    wf_params: dict[str, str]
    globals: dict[str, dict]  # the workflow's global outputs, as journaled
    control: Control = attrs.field(factory=Control)
    texts: TextCache = attrs.field(factory=TextCache)
    orders: dict[int, dict[int, str]] = attrs.field(factory=dict)  # template -> step -> order
    op_specs: dict[int, list[str]] = attrs.field(factory=dict)  # template -> its OP's spec
    slices_json: dict[int, str] = attrs.field(factory=dict)  # sliced template -> its Slices
    inner_types: dict[int, dict[str, str]] = attrs.field(factory=dict)  # Steps/DAG -> types
    context: Any = None  # Workflow(context=) when it renders templates (dflow.contexts)
    rendered: dict[int, OPTemplate] = attrs.field(factory=dict)  # template -> as it runs
    procs: RunProcesses | None = None  # the run's process groups (set when the run starts)
    #: step dirs whose worker output dirs came from a spare (stepfiles: removed if unused)
    spared_outputs: set[str] = attrs.field(factory=set)
    echo: LogEcho | None = None  # steps' output to the console ([engines.local] echo_logs)


def workflow_scope(ctx: RunContext) -> dict[str, Any]:
    """``{{workflow.*}}``: name, parameters, status and global outputs so far."""
    return {
        "name": ctx.wf_id,
        "parameters": ctx.wf_params,
        "status": ctx.control.status,
        "outputs": {
            "parameters": {k: v["value"] for k, v in ctx.globals["parameters"].items()},
            "artifacts": {k: v["local_path"] for k, v in ctx.globals["artifacts"].items()},
        },
    }


def leaf_template(ctx: RunContext, tmpl: OPTemplate) -> OPTemplate:
    """``tmpl`` as it runs: rendered by the workflow's context (once per template and run;
    :func:`dflow.contexts.render_template` says which templates and how, for both engines)."""
    if ctx.context is None:
        return tmpl
    found = ctx.rendered.get(id(tmpl))
    if found is None:
        found = ctx.rendered[id(tmpl)] = contexts.render_template(ctx.context, tmpl)
    return found


def run_cache_settings(ctx: RunContext) -> Any:
    """The ``[cache]`` settings in effect, read once per run: a read looks for a ``dflow.toml``
    in every dir up to ``/`` (twice per step before); a bad table raises its error each time."""
    if ctx.control.cache is None:
        from dflow.cache import cache_settings as read

        try:
            ctx.control.cache = read()
        except ValueError as exc:
            ctx.control.cache = exc
    if isinstance(ctx.control.cache, ValueError):
        raise ctx.control.cache
    return ctx.control.cache


def executor_for(ctx: RunContext, step: Step) -> Executor | None:
    """The executor that runs ``step``: its own, else the workflow's default
    (:func:`dflow.contexts.default_executor`, built once per run); None: run here."""
    from dflow.executor import Executor

    if isinstance(step.executor, Executor):
        return step.executor
    if ctx.control.default_executor is MISSING:
        try:
            ctx.control.default_executor = contexts.default_executor(ctx.wf)
        except Exception as exc:
            raise StepError(f"the configured default executor cannot be built: {exc}") from None
    return ctx.control.default_executor


class ResultScopes(Mapping[str, Any]):
    """``steps``/``tasks`` in a frame's scope: a step's scope is built when an expression
    looks it up. (A dict of every result's scope, built for each step that starts, made each
    step of a long chain cost time in proportion to the steps before it.)"""

    __slots__ = ("_results",)

    def __init__(self, results: dict[str, Result]) -> None:
        self._results = results

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self._results[name].scope()

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)


@attrs.define(eq=False)
class Frame:
    """One running instance of a Steps or DAG template."""

    template: Steps | DAG
    node: Node
    path: str
    params: dict[str, str]
    arts: dict[str, str | None]
    kind: str  # "steps" | "tasks"
    results: dict[str, Result] = attrs.field(factory=dict)
    sem: asyncio.Semaphore | None = None

    def scope(self, ctx: RunContext, item: Any = MISSING) -> dict[str, Any]:
        scope = {
            "inputs": {
                "parameters": dict(self.params),
                "artifacts": {k: v for k, v in self.arts.items() if v is not None},
            },
            self.kind: ResultScopes(self.results),
            "workflow": workflow_scope(ctx),
        }
        if item is not MISSING:
            scope["item"] = item
        return scope

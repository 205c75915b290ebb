"""Hook specifications: what a dflow plugin can provide.

Each hook is named ``dflow_<plural noun>`` and returns a list of frozen records from
:mod:`dflow.plugins.records`; ``dflow_step_event`` is an observer hook. Implement them in the
module your ``dflow`` entry point names, with ``from dflow import hookimpl``.
"""

from __future__ import annotations

import pluggy

from .records import (
    EngineRecord,
    ExecutorRecord,
    RendererRecord,
    StepEvent,
    StorageRecord,
)

_hookspec = pluggy.HookspecMarker("dflow")


@_hookspec
def dflow_engines() -> list[EngineRecord]:
    """Workflow engines this plugin provides.

    ``factory(config)`` returns a :class:`dflow.engine.Engine`; ``config`` is an instance of
    ``config_type`` structured from the ``[engines.<name>]`` section of ``dflow.toml``.

    Example::

        @attrs.frozen
        class MyEngineConfig:
            workdir: str = "runs"

        @hookimpl
        def dflow_engines():
            return [EngineRecord(name="my-engine", factory=lambda cfg: MyEngine(cfg.workdir),
                                 config_type=MyEngineConfig, aliases=("mine",))]
    """
    raise NotImplementedError  # a specification: pluggy calls the implementations


@_hookspec
def dflow_storage_clients() -> list[StorageRecord]:
    """Artifact storage clients (object stores) this plugin provides.

    ``factory(config)`` returns a :class:`dflow.storage.StorageClient`; ``artifact_kind`` is the
    Argo artifact location it renders to.

    Example::

        @hookimpl
        def dflow_storage_clients():
            return [StorageRecord(name="webdav", factory=make_webdav_client,
                                  config_type=WebDAVConfig, artifact_kind="http")]
    """
    raise NotImplementedError  # a specification: pluggy calls the implementations


@_hookspec
def dflow_executors() -> list[ExecutorRecord]:
    """Executors (how a script step runs: Slurm, DPDispatcher, a container, ...).

    ``factory(**kwargs)`` returns a :class:`dflow.executor.Executor`. With ``config_type``, the
    default executor named by ``executor = "<name>"`` in ``dflow.toml`` is built with the fields
    of its ``[executors.<name>]`` section as keywords.

    Example::

        @hookimpl
        def dflow_executors():
            return [ExecutorRecord(name="pbs", factory=PBSExecutor, config_type=PBSConfig)]
    """
    raise NotImplementedError  # a specification: pluggy calls the implementations


@_hookspec
def dflow_renderers() -> list[RendererRecord]:
    """Renderers: ``factory(config)`` returns a :class:`dflow.rendering.Renderer`, whose
    ``render(workflow)`` returns a :class:`dflow.rendering.Rendering`.

    Example::

        @hookimpl
        def dflow_renderers():
            return [RendererRecord(name="cwl", factory=lambda cfg: CWLRenderer())]
    """
    raise NotImplementedError  # a specification: pluggy calls the implementations


@_hookspec
def dflow_step_event(event: StepEvent) -> None:
    """Observe a step changing phase (progress bars, lineage, caches).

    Called by engines for every phase change; an observer's exception is logged, never
    propagated to the workflow.

    Example::

        @hookimpl
        def dflow_step_event(event):
            print(f"{event.workflow_id}/{event.name}: {event.phase}")
    """

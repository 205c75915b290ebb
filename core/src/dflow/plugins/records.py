"""Frozen records that plugins yield from their hooks.

A record names one thing a plugin provides (an engine, a storage client, an executor, ...),
how to build it, and the attrs class that types its configuration section. Core builds every
kind through the record's :meth:`~_Record.build`: one calling convention per kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs


@attrs.frozen
class _Record:
    name: str
    factory: Callable[..., Any]
    config_type: type | None = None
    description: str = ""
    aliases: tuple[str, ...] = ()

    def build(self, config: Any) -> Any:
        """``factory(config)``: ``config`` is an instance of ``config_type`` (or None)."""
        return self.factory(config)


@attrs.frozen
class EngineRecord(_Record):
    """An engine: ``factory(config)`` returns a :class:`dflow.engine.Engine`.

    ``config`` is an instance of ``config_type`` (or None when the plugin declares none).
    """


@attrs.frozen
class CacheAccess:
    """How the step cache's runner reaches a bucket of a storage (docs/cache.md).

    ``endpoint`` is ``http(s)://host[:port]``; ``region`` what the signer needs ("" for
    none). ``secrets`` are ``(variable, Secret key, value)``: workers get the value, Argo pods
    a Secret reference. ``plain`` variables are no secret: workers and pods get the value.
    ``workers`` variables reach the local engine's workers only (e.g. a short-lived token,
    where pods have their own way in).
    """

    endpoint: str
    region: str = ""
    secrets: tuple[tuple[str, str, str], ...] = ()
    plain: dict[str, str] = attrs.field(factory=dict)
    workers: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class StorageRecord(_Record):
    """A storage client: ``factory(config)`` returns a :class:`dflow.storage.StorageClient`.

    ``artifact_kind`` is the Argo artifact location it renders to (``s3``, ``oss``, ``gcs``).
    ``cache_access(config)``, when given, is the :class:`CacheAccess` of a step cache in a
    bucket of this storage's kind (``[cache] location = "oss://..."``, ``"gs://..."``).
    """

    artifact_kind: str = "s3"
    cache_access: Callable[[Any], CacheAccess] | None = None


@attrs.frozen
class ExecutorRecord(_Record):
    """An executor: ``factory(**kwargs)`` returns a :class:`dflow.executor.Executor`.

    Executors take keyword arguments (a user's ``get_executor(name, **kwargs)``); the
    default executor of the config file (``executor = "<name>"``) gets the fields of its
    ``config_type`` section as keywords.
    """

    def build(self, config: Any = None, **kwargs: Any) -> Any:
        """``factory(**kwargs)``, or ``factory(**fields of config)`` without kwargs."""
        if not kwargs and config is not None:
            kwargs = attrs.asdict(config, recurse=False)
        return self.factory(**kwargs)


@attrs.frozen
class RendererRecord(_Record):
    """A renderer: ``factory(config)`` returns a :class:`dflow.rendering.Renderer`."""


@attrs.frozen
class StepEvent:
    """A step changed phase. Delivered to the ``dflow_step_event`` hook of observers.

    Every engine emits the same events (the local engine as it runs, the Argo engine from the
    statuses it polls): one per phase change of a node, parents opened before their children.
    ``parent_id`` is the node that holds this one (a fan-out's items share it); None for the
    workflow's root node. ``progress`` is Argo's ``done/total`` of the node when known (a
    fan-out's group states its size).
    """

    workflow_id: str
    step_id: str
    name: str
    phase: str
    key: str | None = None
    type: str = "Pod"
    message: str = ""
    parent_id: str | None = None
    progress: str = ""

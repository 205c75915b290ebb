"""Frozen records that plugins yield from their hooks.

A record names one thing a plugin provides (an engine, a storage client, an executor, ...),
how to build it, and the attrs class that types its configuration section.
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


@attrs.frozen
class EngineRecord(_Record):
    """An engine: ``factory(config)`` returns a :class:`dflow.engine.Engine`.

    ``config`` is an instance of ``config_type`` (or None when the plugin declares none).
    """


@attrs.frozen
class StorageRecord(_Record):
    """A storage client: ``factory(config)`` returns a :class:`dflow.storage.StorageClient`.

    ``artifact_kind`` is the Argo artifact location it renders to (``s3``, ``oss``, ``gcs``).
    """

    artifact_kind: str = "s3"


@attrs.frozen
class ExecutorRecord(_Record):
    """An executor: ``factory(**kwargs)`` returns a :class:`dflow.executor.Executor`.

    With ``config_type``, ``factory(config)`` builds the default executor named in the
    config file (``executor = "<name>"``).
    """


@attrs.frozen
class ContextRecord(_Record):
    """A workflow context: ``factory(**kwargs)`` returns a :class:`dflow.context.Context`."""


@attrs.frozen
class RendererRecord(_Record):
    """A renderer: ``factory(config)`` returns an object with ``render(workflow) -> dict``."""


@attrs.frozen
class StepEvent:
    """A step changed phase. Delivered to the ``dflow_step_event`` hook of observers."""

    workflow_id: str
    step_id: str
    name: str
    phase: str
    key: str | None = None
    type: str = "Pod"
    message: str = ""

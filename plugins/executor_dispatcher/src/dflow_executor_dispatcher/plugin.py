"""Entry point of dflow-executor-dispatcher: registers the "dispatcher" executor.

Light on purpose: dpdispatcher is imported when a step runs, not when plugins load.
"""

from __future__ import annotations

from typing import Any

import attrs
from dflow import hookimpl
from dflow.plugins.records import ExecutorRecord

from .config import DispatcherConfig


def make_dispatcher(config: DispatcherConfig | None = None, /, **kwargs: Any):  # noqa: ANN201
    """Build a :class:`~dflow_executor_dispatcher.DispatcherExecutor` (from a config section,
    keyword arguments, or both: keywords win)."""
    from .executor import DispatcherExecutor

    if config is not None:
        kwargs = {**attrs.asdict(config, recurse=False), **kwargs}
    return DispatcherExecutor(**kwargs)


@hookimpl
def dflow_executors() -> list[ExecutorRecord]:
    return [
        ExecutorRecord(
            name="dispatcher",
            factory=make_dispatcher,
            config_type=DispatcherConfig,
            description="run script steps through DPDispatcher (Slurm, PBS, LSF, Shell; local or SSH)",
        )
    ]

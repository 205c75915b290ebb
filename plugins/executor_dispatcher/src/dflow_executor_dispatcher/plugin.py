"""Entry point of dflow-executor-dispatcher: registers the "dispatcher" executor.

Light on purpose: dpdispatcher is imported when a step runs, not when plugins load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dflow import hookimpl
from dflow.plugins.records import ExecutorRecord

from .config import DispatcherConfig

if TYPE_CHECKING:
    from .executor import DispatcherExecutor


def make_dispatcher(**kwargs: Any) -> DispatcherExecutor:
    """Build a :class:`~dflow_executor_dispatcher.DispatcherExecutor` (keywords: the user's,
    or the fields of the ``[executors.dispatcher]`` section)."""
    from .executor import DispatcherExecutor

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

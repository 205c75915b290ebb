"""Entry point: registers the ``nice`` executor. Light: imports only dflow."""

from __future__ import annotations

from dflow.plugins import hookimpl
from dflow.plugins.records import ExecutorRecord


def _make(**kwargs):  # keywords: the user's, or [executors.nice]'s fields
    from .executor import NiceExecutor

    return NiceExecutor(**kwargs)


def _config_type():
    from .executor import NiceConfig

    return NiceConfig


@hookimpl
def dflow_executors() -> list[ExecutorRecord]:
    return [
        ExecutorRecord(
            name="nice",
            factory=_make,
            config_type=_config_type(),
            description="run script steps at a lower CPU priority",
        )
    ]

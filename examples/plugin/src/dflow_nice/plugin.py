"""The module the ``dflow`` entry point names: light imports, one ``@hookimpl`` per hook."""

from __future__ import annotations

from dflow import hookimpl
from dflow.plugins.records import ExecutorRecord


def _make(**kwargs):  # the user's keywords, or the fields of [executors.nice]
    # imported when an executor is built, not when dflow lists plugins
    from dflow_nice import NiceExecutor

    return NiceExecutor(**kwargs)


@hookimpl
def dflow_executors() -> list[ExecutorRecord]:
    from dflow_nice import NiceConfig

    return [
        ExecutorRecord(
            name="nice",
            factory=_make,
            config_type=NiceConfig,
            description="runs script steps at a lower CPU priority",
        )
    ]

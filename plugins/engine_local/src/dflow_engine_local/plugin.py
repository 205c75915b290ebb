"""Entry point of dflow-engine-local: registers the ``local`` engine (alias ``debug``)."""

from __future__ import annotations

from typing import Any

from dflow.plugins import hookimpl
from dflow.plugins.records import EngineRecord

from .config import LocalEngineConfig


def _make_engine(config: LocalEngineConfig | None = None) -> Any:
    from .engine import LocalEngine  # the engine's modules load only when it is used

    return LocalEngine(config)


@hookimpl
def dflow_engines() -> list[EngineRecord]:
    return [
        EngineRecord(
            name="local",
            factory=_make_engine,
            config_type=LocalEngineConfig,
            description="runs workflows on this machine (warm worker pool, resumable journal)",
            aliases=("debug",),
        )
    ]

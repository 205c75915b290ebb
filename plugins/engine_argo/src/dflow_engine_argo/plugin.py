"""Entry point of dflow-engine-argo: registers the ``argo`` engine (alias ``default``)."""

from __future__ import annotations

from typing import Any

from dflow.plugins import hookimpl
from dflow.plugins.records import EngineRecord, RendererRecord

from .config import ArgoConfig


def _make_engine(config: ArgoConfig | None = None) -> Any:
    from .engine import ArgoEngine  # requests and friends load only when the engine is used

    return ArgoEngine(config or ArgoConfig())


@hookimpl
def dflow_engines() -> list[EngineRecord]:
    return [
        EngineRecord(
            name="argo",
            factory=_make_engine,
            config_type=ArgoConfig,
            description="Argo Workflows through the Argo Server REST API",
            aliases=("default",),
        )
    ]


def _make_renderer(config: ArgoConfig | None = None) -> Any:
    from .render import ArgoRenderer

    return ArgoRenderer(config)


@hookimpl
def dflow_renderers() -> list[RendererRecord]:
    return [
        RendererRecord(
            name="argo",
            factory=_make_renderer,
            config_type=ArgoConfig,
            description="Argo Workflow manifests (to_yaml, lint, from_yaml)",
        )
    ]

"""Entry point of dflow-engine-argo: registers the ``argo`` engine (alias ``default``)."""

from __future__ import annotations

from typing import Any

from dflow.plugins import hookimpl
from dflow.plugins.records import EngineRecord, RendererRecord

from .config import ArgoConfig


def _make_engine(config: ArgoConfig | None = None) -> Any:
    from .engine import ArgoEngine  # requests and friends load only when the engine is used

    return ArgoEngine(config or ArgoConfig())


ENGINE = EngineRecord(
    name="argo",
    factory=_make_engine,
    config_type=ArgoConfig,
    description="Argo Workflows through the Argo Server REST API",
    aliases=("default",),
)


@hookimpl
def dflow_engines() -> list[EngineRecord]:
    return [ENGINE]


def _make_renderer(config: ArgoConfig | None = None) -> Any:
    from .render import ArgoRenderer

    return ArgoRenderer(config, settings=lambda: renderer_config(config))


def renderer_config(config: ArgoConfig | None) -> ArgoConfig:
    """``config`` (from ``[renderers.argo]``) when the file has that section, else the
    ``[engines.argo]`` section: what the engine puts into manifests at submit (the service
    account...) must also be what ``Workflow.to_yaml()`` shows."""
    from dflow.settings import load_settings

    settings = load_settings()
    if config is not None and settings.section("renderer", RENDERER) is not None:
        return config
    return settings.plugin_config("engine", ENGINE.name, ENGINE)


RENDERER = RendererRecord(
    name="argo",
    factory=_make_renderer,
    config_type=ArgoConfig,
    description="Argo Workflow manifests (to_yaml, lint, from_yaml)",
)


@hookimpl
def dflow_renderers() -> list[RendererRecord]:
    return [RENDERER]

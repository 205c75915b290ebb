"""Fixtures: a clean working directory, environment and config, and a plugin manager holding
a directly registered toy plugin (engines "local" and "argo", storage "minio")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from dflow.config import config, s3_config
from dflow.plugins import hookimpl
from dflow.plugins.manager import PluginManager, reset_plugin_manager
from dflow.plugins.records import EngineRecord, RendererRecord, StorageRecord


@attrs.frozen
class LocalConfig:
    workdir: str = "runs"
    pool_workers: int = 1


@attrs.frozen
class MinioConfig:
    endpoint: str
    secure: bool = False


@attrs.frozen
class Built:
    """What a toy factory returns: the record name and the config it was built with."""

    name: str
    config: object


class ToyRenderer(Built):
    """A :class:`dflow.rendering.Renderer`."""

    def render(self, workflow: object) -> object:
        return workflow

    def lint(self, workflow: object) -> list:
        return []

    def from_dict(self, manifest: dict) -> object:
        return manifest


class ToyPlugin:
    @hookimpl
    def dflow_engines(self) -> list[EngineRecord]:
        return [
            EngineRecord(
                name="local", factory=lambda c: Built("local", c), config_type=LocalConfig
            ),
            EngineRecord(name="argo", factory=lambda c: Built("argo", c)),
        ]

    @hookimpl
    def dflow_storage_clients(self) -> list[StorageRecord]:
        return [
            StorageRecord(
                name="minio",
                factory=lambda c: Built("minio", c),
                config_type=MinioConfig,
                artifact_kind="s3",
            )
        ]

    @hookimpl
    def dflow_renderers(self) -> list[RendererRecord]:
        return [
            RendererRecord(name="argo", factory=lambda c: ToyRenderer("argo-renderer", c)),
            RendererRecord(name="half", factory=lambda c: Built("half-renderer", c)),
        ]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """cwd = a fresh dir; no DFLOW_* selection variables; config dicts restored afterwards."""
    for var in (
        "DFLOW_CONFIG",
        "DFLOW_MODE",
        "DFLOW_PLUGINS",
        "DFLOW_DISABLE_PLUGINS",
        "DFLOW_S3_STORAGE_CLIENT",
    ):
        monkeypatch.delenv(var, raising=False)
    work = tmp_path / "project" / "sub"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    saved, saved_s3 = dict(config), dict(s3_config)
    config["mode"] = None
    yield work
    config.clear()
    config.update(saved)
    s3_config.clear()
    s3_config.update(saved_s3)


@pytest.fixture
def toy_pm(workdir: Path) -> Iterator[PluginManager]:
    """The process-wide manager replaced by one holding only builtin + ToyPlugin."""
    pm = PluginManager(entry_points=False)
    pm.register(ToyPlugin(), "toy", distribution="dflow-toy", version="1.0")
    reset_plugin_manager(pm)
    yield pm
    reset_plugin_manager()

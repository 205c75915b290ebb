"""One test per hook: a plugin implementing it is resolved by name (see test_hookspec_coverage)."""

from __future__ import annotations

import logging

import attrs
import pytest
from dflow.plugins import hookimpl
from dflow.plugins.manager import PluginManager
from dflow.plugins.records import (
    EngineRecord,
    ExecutorRecord,
    RendererRecord,
    StepEvent,
    StorageRecord,
)


@attrs.frozen
class Cfg:
    root: str = "."


class Everything:
    """A plugin implementing every hook."""

    def __init__(self) -> None:
        self.events: list[StepEvent] = []

    @hookimpl
    def dflow_engines(self) -> list[EngineRecord]:
        return [EngineRecord(name="toy", factory=lambda cfg: ("engine", cfg), config_type=Cfg)]

    @hookimpl
    def dflow_storage_clients(self) -> list[StorageRecord]:
        return [StorageRecord(name="toy-store", factory=lambda cfg: "store", artifact_kind="gcs")]

    @hookimpl
    def dflow_executors(self):  # a generator is a valid result too
        yield ExecutorRecord(name="toy-exec", factory=lambda **kw: ("executor", kw))

    @hookimpl
    def dflow_renderers(self) -> list[RendererRecord]:
        return [RendererRecord(name="toy-yaml", factory=lambda cfg: "renderer")]

    @hookimpl
    def dflow_step_event(self, event: StepEvent) -> None:
        self.events.append(event)


@pytest.fixture
def plugin(pm: PluginManager) -> Everything:
    plugin = Everything()
    pm.register(plugin, "everything", distribution="dflow-everything", version="1")
    return plugin


def test_dflow_engines(pm: PluginManager, plugin: Everything) -> None:
    record = pm.engine("toy")
    assert record.factory(Cfg("x")) == ("engine", Cfg("x"))
    assert list(pm.engines()) == ["toy"]


def test_dflow_storage_clients(pm: PluginManager, plugin: Everything) -> None:
    assert pm.storage("toy-store").artifact_kind == "gcs"
    assert sorted(pm.storages()) == ["local", "toy-store"]


def test_dflow_executors(pm: PluginManager, plugin: Everything) -> None:
    assert pm.executor("toy-exec").build(host="h") == ("executor", {"host": "h"})
    assert list(pm.executors()) == ["toy-exec"]


def test_dflow_renderers(pm: PluginManager, plugin: Everything) -> None:
    assert pm.renderer("toy-yaml").factory(None) == "renderer"
    assert list(pm.renderers()) == ["toy-yaml"]


def test_dflow_step_event(
    pm: PluginManager, plugin: Everything, caplog: pytest.LogCaptureFixture
) -> None:
    class Failing:
        @hookimpl
        def dflow_step_event(self, event: StepEvent) -> None:
            raise ValueError("observer bug")

    class NoArgs:  # pluggy lets an implementation take fewer arguments than the spec
        calls = 0

        @hookimpl
        def dflow_step_event(self) -> None:
            NoArgs.calls += 1

    pm.register(Failing(), "failing")
    pm.register(NoArgs(), "noargs")
    event = StepEvent(workflow_id="wf-1", step_id="wf-1-1", name="hello", phase="Succeeded")
    with caplog.at_level(logging.WARNING, logger="dflow.plugins"):
        pm.emit_step_event(event)
    assert plugin.events == [event]
    assert NoArgs.calls == 1
    assert (
        "'failing' (registered directly): hook dflow_step_event raised on wf-1/hello "
        "(Succeeded) and is skipped: ValueError: observer bug"
    ) in caplog.text
    assert "observer bug" in caplog.text

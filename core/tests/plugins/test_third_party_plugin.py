"""A third-party plugin installed with real metadata, selected by name in dflow.toml."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from dflow import backends
from dflow.executor import ScriptJob
from dflow.settings import SettingsError


def test_default_executor_from_dflow_toml(with_echo: Path, tmp_path: Path) -> None:
    Path("dflow.toml").write_text(
        textwrap.dedent(
            """
            executor = "echo-executor"
            [executors.echo-executor]
            prefix = "echo"
            repeat = 2
            """
        )
    )
    executor = backends.get_default_executor()
    assert type(executor).__module__ == "dflow_test_echo"
    assert executor.config.repeat == 2
    assert backends.get_default_executor() is executor  # built once per configuration

    # and it runs a step the way the local engine would call it
    job = ScriptJob(
        name="hello",
        workflow_id="wf",
        script_path=tmp_path / "script",
        command=("hello", "world"),
        workdir=tmp_path,
        log_path=tmp_path / "log.txt",
    )
    assert executor.run(job).exit_code == 0
    assert (tmp_path / "log.txt").read_text() == "hello world\nhello world\n"


def test_explicit_kwargs_build_a_new_executor(with_echo: Path) -> None:
    executor = backends.get_executor("echo-executor", prefix="printf", repeat=3)
    assert (executor.config.prefix, executor.config.repeat) == ("printf", 3)
    assert backends.get_executor("echo-executor").config.prefix == "echo"  # config defaults


def test_plugin_section_is_typed_by_the_plugin(with_echo: Path) -> None:
    Path("dflow.toml").write_text(
        'executor = "echo-executor"\n[executors.echo-executor]\nrepaet = 2\nprefix = 1\n'
    )
    with pytest.raises(SettingsError) as err:
        backends.get_default_executor()
    path = Path("dflow.toml").resolve()
    assert str(err.value).splitlines() == [
        f"{path}: executors.echo-executor.prefix: expected str, got int 1",
        f"{path}: executors.echo-executor.repaet: extra key (did you mean 'repeat'?)",
    ]


def test_no_default_executor_without_a_file(with_echo: Path) -> None:
    assert backends.get_default_executor() is None


def test_engine_from_plugin_with_its_section(with_echo: Path, tmp_path: Path) -> None:
    Path("dflow.toml").write_text(
        f'engine = "echo-engine"\n[engines.echo-engine]\nworkdir = "{tmp_path}"\n'
    )
    engine = backends.get_engine()
    assert engine.workdir == tmp_path
    assert backends.engine_name() == "echo-engine"
    assert sys.modules["dflow_test_echo"].EchoEngine is type(engine)

"""The dflow command, run as users run it (a subprocess), with the test plugin installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def dflow(*args: str, cwd: Path, site: Path | None = None, **env: str):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DFLOW_")}
    environ["DFLOW_PLUGINS"] = "test-echo"
    if site is not None:
        environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(site), environ.get("PYTHONPATH")])
        )
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "dflow", *args], cwd=cwd, env=environ, capture_output=True, text=True
    )


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = dflow("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in (
        "plugins",
        "config",
        "list",
        "get",
        "getsteps",
        "getkeys",
        "delete",
        "resubmit",
        "resume",
        "stop",
        "suspend",
        "terminate",
        "retry",
        "wait",
        "submit",
    ):
        assert command in result.stdout


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom dflow.cli import build_parser\nbuild_parser()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pluggy', 'cattrs', 'attrs', 'yaml', 'jsonpickle', 'typeguard')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_plugins_table(tmp_path: Path, echo_site: Path) -> None:
    result = dflow("plugins", cwd=tmp_path, site=echo_site)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "DISTRIBUTION", "VERSION", "HOOKS"]
    assert lines[1].split()[:2] == ["builtin", "dflow-core"]
    assert lines[1].split()[3:] == ["dflow_storage_clients"]
    assert lines[2].split() == [
        "test-echo",
        "dflow-test-echo",
        "0.3.1",
        "dflow_engines,",
        "dflow_executors",
    ]


def test_plugins_verbose_lists_names(tmp_path: Path, echo_site: Path) -> None:
    result = dflow("plugins", "-v", cwd=tmp_path, site=echo_site)
    assert "executors: echo-executor" in result.stdout
    assert "contexts" not in result.stdout  # no such hook: contexts are passed as objects
    assert "storages: local" in result.stdout


def test_config_shows_resolution(tmp_path: Path, echo_site: Path) -> None:
    (tmp_path / "dflow.toml").write_text(
        'engine = "echo-engine"\nexecutor = "echo-executor"\n'
        "[executors.echo-executor]\nrepeat = 2\n"
    )
    result = dflow("config", cwd=tmp_path, site=echo_site)
    assert result.returncode == 0, result.stderr
    assert f"file:     {tmp_path / 'dflow.toml'}" in result.stdout
    assert "engine:   echo-engine (from file)" in result.stdout
    assert "storage:  local (local)" in result.stdout
    assert "executor: echo-executor" in result.stdout
    assert "[executors.echo-executor] EchoConfig(prefix='echo', repeat=2)" in result.stdout

    result = dflow("config", cwd=tmp_path, site=echo_site, DFLOW_MODE="debug")
    # dflow-engine-local is either not installed, or installed and left out by DFLOW_PLUGINS
    [line] = [line for line in result.stdout.splitlines() if line.startswith("engine:")]
    assert line.startswith("engine:   debug (from config['mode']): engine 'debug' ")
    assert "dflow-engine-local" in line and line.endswith("installed: echo-engine")


def test_config_reports_bad_sections(tmp_path: Path, echo_site: Path) -> None:
    (tmp_path / "dflow.toml").write_text('[executors.echo-executor]\nrepeat = "2"\n')
    result = dflow("config", cwd=tmp_path, site=echo_site)
    assert result.returncode == 1
    assert "executors.echo-executor.repeat: expected int, got str '2'" in result.stdout


def test_workflow_command_without_engine_says_what_to_install(tmp_path: Path) -> None:
    result = dflow("get", "wf-1", cwd=tmp_path, DFLOW_PLUGINS="none-at-all")
    assert result.returncode == 1
    # not installed, or installed and disabled by DFLOW_PLUGINS: either way the user is told
    message = result.stderr.strip()
    assert message.startswith("dflow: error: engine 'local' ")
    assert "dflow-engine-local" in message and message.endswith("installed: none")


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A workflow in the echo engine's state format, and a dflow.toml selecting that engine."""
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "wf-1.json").write_text(
        json.dumps(
            {
                "id": "wf-1",
                "phase": "Running",
                "steps": [
                    {
                        "name": "wf-1",
                        "displayName": "wf-1",
                        "id": "wf-1",
                        "type": "Steps",
                        "phase": "Running",
                    },
                    {
                        "name": "[0]",
                        "displayName": "[0]",
                        "id": "wf-1-0",
                        "type": "StepGroup",
                        "phase": "Running",
                    },
                    {
                        "name": "hello",
                        "displayName": "hello",
                        "id": "wf-1-1",
                        "type": "Pod",
                        "phase": "Succeeded",
                        "key": "hello-0",
                        "outputs": {
                            "parameters": {"msg": {"value": "hi"}, "dflow_x": {"value": 1}}
                        },
                    },
                ],
            }
        )
    )
    (tmp_path / "dflow.toml").write_text(
        f'engine = "echo-engine"\n[engines.echo-engine]\nworkdir = "{runs}"\n'
    )
    return tmp_path


def test_workflow_commands_act_through_the_engine(runs: Path, echo_site: Path) -> None:
    out = dflow("list", cwd=runs, site=echo_site)
    assert out.stdout.splitlines()[1].split() == ["wf-1", "Running"]

    out = dflow("get", "wf-1", cwd=runs, site=echo_site).stdout
    assert "Name:     wf-1" in out and "Status:   Running" in out
    # a tree: the Steps node, then its step (the StepGroup node is not shown)
    assert [line.split() for line in out.splitlines()[-2:]] == [
        ["wf-1", "wf-1", "Running"],
        ["hello", "wf-1-1", "Succeeded"],
    ]
    assert "StepGroup" not in out and "[0]" not in out

    out = dflow("getkeys", "wf-1", cwd=runs, site=echo_site).stdout
    assert out.split() == ["hello-0"]

    out = dflow("getsteps", "wf-1", "-k", "hello-0", cwd=runs, site=echo_site).stdout
    assert "Step:   hello" in out and "output parameter msg: hi" in out
    assert "dflow_x" not in out

    result = dflow("terminate", "wf-1", cwd=runs, site=echo_site)
    assert result.stdout.strip() == "workflow wf-1: terminate requested"
    result = dflow("wait", "wf-1", cwd=runs, site=echo_site)
    assert (result.returncode, result.stdout.strip()) == (1, "workflow wf-1: Failed")

    result = dflow("suspend", "wf-1", cwd=runs, site=echo_site)
    assert result.returncode == 1
    assert result.stderr.strip() == "dflow: error: engine 'echo-engine' does not support suspend"

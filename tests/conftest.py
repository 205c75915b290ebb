"""Cross-distribution tests: the examples, run for real on the local engine."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    """Import ``examples/<name>.py`` as a module (its ``__main__`` block does not run)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example():
    """``example("loops")`` imports ``examples/loops.py``."""
    return load_example


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in a fresh directory with the local engine."""
    monkeypatch.chdir(tmp_path)
    from dflow import config

    monkeypatch.setitem(config, "mode", "debug")
    return tmp_path


# -- the project's OSS test server (plugins/storage_oss/tests): cache and fault tests ---------


@pytest.fixture(scope="module")
def oss_server():
    """The OSS test server (it checks V1 and V4 signatures), started with the test key pair,
    bucket and region, which it carries as ``.access_key``, ``.secret_key``, ``.bucket`` and
    ``.region``; stopped by its PID."""
    pytest.importorskip("dflow_storage_oss")
    path = Path(__file__).resolve().parents[1] / "plugins/storage_oss/tests/conftest.py"
    spec = importlib.util.spec_from_file_location("dflow_oss_test_fixtures", path)
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    server = fixtures.start_test_server()
    yield server
    server.stop()


# -- HPC workflows (test_hpc_workflows.py): the shared real Slurm ---------------------------

from dflow.testing.slurm_fixtures import local_slurm  # noqa: E402, F401


@pytest.fixture
def hpc_workdir(local_slurm, tmp_path, monkeypatch):
    """Run workflows with the local engine under ``tmp_path``, their steps as Slurm jobs.

    HOME is an empty directory: batch scripts may run login shells, which must not read (or
    wait on) the developer's dotfiles.
    """
    from dflow.config import config

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    saved = dict(config)
    config["mode"] = "local"
    config["debug_workdir"] = str(tmp_path)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    try:
        from dflow_engine_local.engine import LocalEngine
        from dflow_engine_local.run import is_running

        for wf_dir in tmp_path.iterdir():  # a failed assertion can leave a run behind
            if (wf_dir / "journal.db").exists() and is_running(str(wf_dir)):
                LocalEngine().terminate(wf_dir.name)
    finally:
        config.clear()
        config.update(saved)


# -- the Argo conformance harness (test_conformance.py): plugins/engine_argo/tests/conformance --

_ARGO_TESTS = str(Path(__file__).resolve().parents[1] / "plugins" / "engine_argo" / "tests")
if _ARGO_TESTS not in sys.path:
    sys.path.insert(0, _ARGO_TESTS)
from conformance.fixtures import (  # noqa: E402, F401
    argo_repository,
    emulated_argo,
    emulated_kube,
    emulated_server,
    seaweedfs,
)


def pytest_terminal_summary(terminalreporter):
    from conformance.fixtures import write_summary

    write_summary(terminalreporter)

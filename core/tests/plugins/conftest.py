"""Fixtures: plugin distributions installed for real (dist-info + entry_points.txt) in temp dirs."""

from __future__ import annotations

import importlib
import shutil
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dflow.plugins import manager

FIXTURE_DIST = Path(__file__).resolve().parents[1] / "fixtures" / "plugin_dist"


def write_dist(
    site: Path,
    name: str,
    version: str,
    entry_points: dict[str, str],
    files: dict[str, str] | None = None,
) -> Path:
    """Make ``site`` look like a site-packages holding distribution ``name``.

    The metadata is what an installer writes: ``<name>-<version>.dist-info/`` with METADATA
    and entry_points.txt, so ``importlib.metadata`` finds it exactly as it finds pip's.
    """
    site.mkdir(parents=True, exist_ok=True)
    for rel, text in (files or {}).items():
        target = site / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = ["[dflow]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return site


@pytest.fixture(scope="session")
def echo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture distribution dflow-test-echo, installed from its pyproject.toml."""
    project = tomllib.loads((FIXTURE_DIST / "pyproject.toml").read_text())["project"]
    site = tmp_path_factory.mktemp("echo-site")
    shutil.copytree(FIXTURE_DIST / "dflow_test_echo", site / "dflow_test_echo")
    return write_dist(site, project["name"], project["version"], project["entry-points"]["dflow"])


def _forget_modules(prefixes: tuple[str, ...]) -> None:
    for name in [m for m in sys.modules if m.startswith(prefixes)]:
        del sys.modules[name]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No plugin filters, no config file, a fresh process-wide plugin manager."""
    for var in ("DFLOW_PLUGINS", "DFLOW_DISABLE_PLUGINS", "DFLOW_CONFIG", "DFLOW_MODE"):
        monkeypatch.delenv(var, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    manager.reset_plugin_manager()
    yield
    manager.reset_plugin_manager()


@pytest.fixture
def with_echo(echo_site: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Iterator[Path]:
    """dflow-test-echo on sys.path; only its entry point enabled (other helpers' plugins may
    be installed in the shared venv and must not change what these tests see)."""
    monkeypatch.syspath_prepend(str(echo_site))
    monkeypatch.setenv("DFLOW_PLUGINS", "test-echo")
    importlib.invalidate_caches()
    _forget_modules(("dflow_test_echo",))
    yield echo_site
    _forget_modules(("dflow_test_echo",))


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """Install a throwaway distribution: ``make_dist(name, version, entry_points, files)``."""
    modules: list[str] = []

    def make(name: str, version: str, entry_points: dict[str, str], files: dict[str, str]) -> Path:
        site = write_dist(tmp_path / f"site-{name}", name, version, entry_points, files)
        monkeypatch.syspath_prepend(str(site))
        importlib.invalidate_caches()
        modules.extend(rel.split("/")[0].removesuffix(".py") for rel in files)
        return site

    yield make
    _forget_modules(tuple(modules))


@pytest.fixture
def pm() -> manager.PluginManager:
    """A fresh manager that loads only the builtin plugin (tests register what they need)."""
    return manager.PluginManager(entry_points=False)

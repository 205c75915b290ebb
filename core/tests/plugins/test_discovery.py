"""Entry points remembered between processes: each test runs fresh interpreters, as users do,
with a cache dir of its own, and installs, edits and removes a plugin distribution for real
(dist-info + entry_points.txt on ``sys.path``) between them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import write_dist

PROBE = (
    "import json, sys\n"
    "from dflow.plugins.manager import get_plugin_manager\n"
    "pm = get_plugin_manager()\n"
    "pm.load()\n"
    "print(json.dumps({\n"
    "    'plugins': {p.name: [p.distribution, p.version] for p in pm.describe()},\n"
    "    'failures': [f.name for f in pm.failures],\n"
    "    'searched': 'importlib.metadata' in sys.modules,\n"
    "}))\n"
)

PLUGIN = (
    "from dflow.plugins import hookimpl\n"
    "from dflow.plugins.records import ExecutorRecord\n"
    "@hookimpl\n"
    "def dflow_executors():\n"
    "    return [ExecutorRecord(name='{name}', factory=dict)]\n"
)


def _env(site: Path, cache: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(cache),
        "PYTHONPATH": os.pathsep.join([str(site), *sys.path[1:]]),
    }
    for var in ("DFLOW_PLUGINS", "DFLOW_DISABLE_PLUGINS"):
        env.pop(var, None)
    return env


def _probe(site: Path, cache: Path) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=_env(site, cache),
        cwd=site,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _cached_with(tmp_path: Path, entry: dict[str, str]) -> tuple[Path, Path, Path]:
    """(site, cache, cache file) after a probe, ``entry`` added to the cached entry points:
    what a change the fingerprint cannot see would leave."""
    site, cache = tmp_path / "site", tmp_path / "cache"
    site.mkdir()
    _install(site, "1.0", "found-one")
    _probe(site, cache)
    [path] = (cache / "dflow" / "entry-points").iterdir()
    data = json.loads(path.read_text())
    data["entry_points"].append({**entry, "distribution": "x", "version": "1"})
    path.write_text(json.dumps(data))
    return site, cache, path


def _install(site: Path, version: str, executor: str) -> None:
    files = {
        "dflow_test_found/__init__.py": "",
        "dflow_test_found/plugin.py": PLUGIN.replace("{name}", executor),
    }
    write_dist(site, "dflow-test-found", version, {"test-found": "dflow_test_found.plugin"}, files)


def test_the_second_process_reads_the_cache_and_an_installation_change_is_seen(tmp_path):
    site, cache = tmp_path / "site", tmp_path / "cache"
    site.mkdir()
    first = _probe(site, cache)
    assert first["searched"] is True
    assert "test-found" not in first["plugins"]
    assert "engine-local" in first["plugins"]  # this venv's own plugins, by entry point
    [written] = (cache / "dflow" / "entry-points").iterdir()

    second = _probe(site, cache)
    assert second["searched"] is False  # importlib.metadata not even imported
    assert second["plugins"] == first["plugins"]

    _install(site, "1.0", "found-one")  # pip install
    third = _probe(site, cache)
    assert third["searched"] is True
    assert third["plugins"]["test-found"] == ["dflow-test-found", "1.0"]
    assert _probe(site, cache)["searched"] is False

    # an upgrade in place: a new dist-info, the old one removed
    shutil.rmtree(site / "dflow_test_found-1.0.dist-info")
    _install(site, "2.0", "found-two")
    upgraded = _probe(site, cache)
    assert upgraded["plugins"]["test-found"] == ["dflow-test-found", "2.0"]

    # an entry_points.txt edited where it is: the entry point now names a module that fails
    points = site / "dflow_test_found-2.0.dist-info" / "entry_points.txt"
    points.write_text("[dflow]\ntest-found = dflow_test_found.missing\nother = x.y\n")
    edited = _probe(site, cache)
    assert edited["searched"] is True
    assert "test-found" not in edited["plugins"]
    assert sorted(edited["failures"]) == ["other", "test-found"]

    shutil.rmtree(site / "dflow_test_found-2.0.dist-info")  # pip uninstall
    removed = _probe(site, cache)
    assert "test-found" not in removed["plugins"] and removed["failures"] == []
    assert [p.name for p in (cache / "dflow" / "entry-points").iterdir()] == [written.name]


def test_a_stale_cache_entry_is_searched_again_not_reported_as_broken(tmp_path):
    # a cached entry point whose module is gone
    site, cache, path = _cached_with(tmp_path, {"name": "gone", "value": "dflow_test_gone.plugin"})
    got = _probe(site, cache)
    assert got["searched"] is True
    assert got["failures"] == []
    assert got["plugins"]["test-found"] == ["dflow-test-found", "1.0"]
    rewritten = json.loads(path.read_text())["entry_points"]
    assert "gone" not in {p["name"] for p in rewritten} and "test-found" in {
        p["name"] for p in rewritten
    }


def test_without_a_writable_cache_plugins_are_still_found(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _install(site, "1.0", "found-one")
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")  # XDG_CACHE_HOME is a file: nothing can be written under it
    for _ in range(2):
        got = _probe(site, blocked)
        assert got["searched"] is True
        assert got["plugins"]["test-found"] == ["dflow-test-found", "1.0"]


def test_the_cache_keeps_the_newest_files_only(tmp_path):
    from dflow.plugins.discovery import _trim

    folder = tmp_path / "entry-points"
    folder.mkdir()
    for i in range(70):
        path = folder / f"{i:02d}.json"
        path.write_text("{}")
        os.utime(path, ns=(i * 10**9, i * 10**9))
    _trim(str(folder), keep=64)
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:02d}.json" for i in range(6, 70)]


def test_dflow_plugins_searches_afresh_and_mends_the_cache(tmp_path):
    # a stale entry that still imports: a plain run cannot tell, `dflow plugins` must
    site, cache, path = _cached_with(tmp_path, {"name": "ghost", "value": "dflow_test_found.ghost"})
    (site / "dflow_test_found" / "ghost.py").write_text(PLUGIN.replace("{name}", "ghost-exec"))
    assert "ghost" in _probe(site, cache)["plugins"]
    listed = subprocess.run(
        [sys.executable, "-m", "dflow", "plugins"],
        capture_output=True,
        text=True,
        env=_env(site, cache),
        cwd=site,  # the same sys.path as the probes: the same cache file
    )
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()]
    assert "test-found" in names and "ghost" not in names
    assert "ghost" not in _probe(site, cache)["plugins"]  # the cache was rewritten

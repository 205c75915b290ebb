"""The fault suite: runs killed at random points, leaked and deaf processes, a full disk."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.fault)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Workflows run on the local engine under ``tmp_path``."""
    from dflow.config import config

    saved = dict(config)
    config["mode"] = "local"
    config["debug_workdir"] = str(tmp_path)
    config["debug_pool_workers"] = 2
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
        kill_all(under(tmp_path))  # a failing test must not leak its processes


def under(root: Path) -> list[int]:
    """Live processes whose working directory is below ``root``."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                cwd = os.readlink(f"/proc/{name}/cwd")
            except OSError:
                continue
            if cwd == str(root) or cwd.startswith(str(root) + "/"):
                out.append(int(name))
    return out


def read_pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def running(pids: list[int], settle: float = 3.0) -> list[int]:
    """Those of ``pids`` still running (not zombies) after at most ``settle`` seconds."""
    from dflow_engine_local.procs import is_alive

    deadline = time.monotonic() + settle
    while True:
        left = [p for p in pids if is_alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def tagged(tag: str) -> list[int]:
    """Live processes whose environment holds ``FAULT_TAG=<tag>`` (a test's whole tree)."""
    from dflow_engine_local.procs import is_alive

    marker = f"FAULT_TAG={tag}".encode()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if marker in env and is_alive(int(name)):
            out.append(int(name))
    return out


def kill_all(pids: list[int]) -> None:
    import signal

    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass

"""Helpers of the fault suite: processes of a test, found by pid, tag or working directory."""

from __future__ import annotations

import os
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


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

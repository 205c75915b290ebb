"""Script steps (Shell / PythonScript templates): render the script, run it as a subprocess.

Paths in scripts. A template declares where its inputs and outputs live in the container
(``/tmp/inputs/artifacts/x``, ``/data/in``, ``/tmp/outputs/parameters/msg``). Locally each
declared path maps to the same path below the step's workdir. The script text is never
rewritten by blind substitution (pydflow replaced every ``/tmp`` substring): only

* Argo variables (``{{inputs.parameters.x}}``, ``{{inputs.artifacts.x.path}}``,
  ``{{outputs.parameters.x.path}}``, ``{{outputs.artifacts.x.path}}``, ``{{workflow.name}}``,
  ``{{pod.name}}``) are substituted, as Argo does; and
* the template's *declared* paths, where one occurs as a whole path (not as a prefix of a
  longer name; a following ``/sub/path`` is kept), are first turned into the matching
  variable. Any other text, including other ``/tmp/...`` strings, is left alone; ``TMPDIR``
  points at the step's private ``workdir/tmp``.

The subprocess runs in its own session (process group) with cwd = the step's workdir; its
output goes to ``log.txt``; on timeout, stop or cancellation the whole group is killed
(SIGTERM, then SIGKILL after a grace period), and what the script left running in the
background is killed when it exits (see :mod:`.procs`).
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

from . import procs
from .pool import die_with_parent


def declared_paths(template: Any) -> dict[str, str]:
    """Container path -> Argo variable for every path the template declares."""
    out: dict[str, str] = {}
    for name, art in template.inputs.artifacts.items():
        if art.path:
            out[art.path] = f"{{{{inputs.artifacts.{name}.path}}}}"
    for name, par in template.inputs.parameters.items():
        if getattr(par, "save_as_artifact", False) and par.path:
            out[par.path] = f"{{{{inputs.parameters.{name}.path}}}}"
    for name, par in template.outputs.parameters.items():
        if par.value_from_path:
            out[par.value_from_path] = f"{{{{outputs.parameters.{name}.path}}}}"
    for name, art in template.outputs.artifacts.items():
        if art.path:
            out[art.path] = f"{{{{outputs.artifacts.{name}.path}}}}"
    return out


def paths_to_variables(script: str, paths: dict[str, str]) -> str:
    """Turn whole-path occurrences of declared paths into their variables (longest first)."""
    if not paths:
        return script
    ordered = sorted(paths, key=len, reverse=True)
    pattern = re.compile(
        r"(?<![\w./-])(" + "|".join(re.escape(p.rstrip("/")) for p in ordered) + r")(?![\w.-])"
    )
    lookup = {p.rstrip("/"): v for p, v in paths.items()}
    return pattern.sub(lambda m: lookup[m.group(1)], script)


def _preexec() -> None:  # pragma: no cover - runs in the child before exec
    die_with_parent()


async def run_subprocess(
    argv: list[str],
    cwd: str,
    env: dict[str, str],
    log_path: str,
    timeout: float | None,
    cancel: asyncio.Event | None = None,
    pid_path: str | None = None,
    book: procs.RunProcesses | None = None,
    node_id: str | None = None,
) -> tuple[int, bool, bool]:
    """Run ``argv``; return (exit code, timed out, killed by SIGKILL). Cancellation kills the
    process group.

    ``pid_path`` gets the process id (pydflow's step ``pid`` file); ``book`` journals the
    group (and gives the run's environment marker)."""
    if book is not None and node_id is not None:
        env = {**env, **book.step_env(node_id)}
    with open(log_path, "ab") as log:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_preexec,
        )
    if book is not None:
        book.add_proc(proc.pid, procs.start_time(proc.pid), node_id)
    try:
        return await _wait(proc, log_path, timeout, cancel, pid_path)
    finally:
        if book is not None:
            book.drop_proc(proc.pid)
            if node_id is not None:
                left, sigkill = await book.end_step(node_id)
                if left:
                    _note_killed(log_path, sigkill)


async def _wait(
    proc: asyncio.subprocess.Process,
    log_path: str,
    timeout: float | None,
    cancel: asyncio.Event | None,
    pid_path: str | None,
) -> tuple[int, bool, bool]:
    if pid_path is not None:
        with open(pid_path, "w") as f:
            f.write(str(proc.pid))
    waiters = [asyncio.ensure_future(proc.wait())]
    if cancel is not None:
        waiters.append(asyncio.ensure_future(cancel.wait()))
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        await _kill_group(proc)
        raise
    finally:
        for w in waiters[1:]:
            w.cancel()
    if waiters[0] in done:
        procs.reap_orphans([proc.pid])
        if procs.group_alive(proc.pid):  # background children: the step is over, so are they
            _note_killed(log_path, await procs.terminate_async([], [proc.pid]))
        return proc.returncode or 0, False, False
    sigkill = await _kill_group(proc)
    if cancel is not None and cancel.is_set():
        raise asyncio.CancelledError()
    return proc.returncode if proc.returncode is not None else -9, True, sigkill


def _note_killed(log_path: str, sigkill: bool) -> None:
    how = "SIGKILL (they ignored SIGTERM)" if sigkill else "SIGTERM"
    with open(log_path, "a") as log:
        log.write(f"[dflow] the step left processes running: killed ({how})\n")


async def _kill_group(proc: asyncio.subprocess.Process) -> bool:
    sigkill = await procs.terminate_async([], [proc.pid])
    if proc.returncode is None:
        await proc.wait()
    return sigkill


def log_tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 2000))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    tail = [ln for ln in text.splitlines() if ln.strip()][-lines:]
    return "\n".join(tail)

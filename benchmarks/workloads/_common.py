"""Shared driver code of the workload scripts (no workflow API here: only timing and output).

Each workload is run as ``python <script>.py N`` in a fresh, empty working directory and
prints one JSON line prefixed with ``RESULT `` so the harness can find it among the engine's
own output: ``{"seconds": submit..finish wall time, "ok": bool, "result": ..., "n": N,
"cpu": CPU seconds of this process and of the processes it waited for, submit..finish}``
(pool workers and step processes are waited for before the run ends; interpreter start-up
and the workload's own imports are left out, as in "seconds").
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

FINAL = ("Succeeded", "Failed", "Error", "Terminated", "Skipped")


def n_from_argv(default: int) -> int:
    """The workload size: the first command-line argument, or ``default``."""
    if len(sys.argv) > 1:
        try:
            return int(sys.argv[1])
        except ValueError:
            sys.exit(f"usage: {sys.argv[0]} [N]: N must be an integer, got {sys.argv[1]!r}")
    return default


def _print_unsuccessful_steps(wf: Any) -> None:
    """Name, phase and message of each step that did not succeed (for the failure report)."""
    try:
        for step in wf.query_step():
            phase = getattr(step, "phase", None)
            if phase not in ("Succeeded", "Skipped"):
                message = getattr(step, "message", None)
                print(
                    f"step {getattr(step, 'displayName', '?')!r} (id {getattr(step, 'id', '?')}):"
                    f" {phase}: {message}",
                    file=sys.stderr,
                    flush=True,
                )
    except Exception as exc:
        print(f"could not query the steps: {exc!r}", file=sys.stderr, flush=True)


def run_and_report(n: int, wf: Any, check: Callable[[Any], tuple[bool, Any]]) -> None:
    """Submit ``wf``, wait until it finishes, check its outputs and print the RESULT line.

    pydflow's debug mode and the local engine both run ``submit`` synchronously; the wait
    loop only matters if an engine returns early.
    """
    start, cpu_start = time.perf_counter(), _cpu()
    status = "?"
    try:
        wf.submit()
        status = wf.query_status()
        while status not in FINAL:
            time.sleep(0.05)
            status = wf.query_status()
    except Exception:
        traceback.print_exc()
    seconds = time.perf_counter() - start
    cpu = _cpu() - cpu_start
    ok, result = False, None
    if status == "Succeeded":
        try:
            ok, result = check(wf)
        except Exception as exc:
            traceback.print_exc()
            result = f"checking the outputs failed: {exc!r}"
    else:
        result = f"workflow status {status}"
        _print_unsuccessful_steps(wf)
    print(
        "RESULT "
        + json.dumps(
            {"seconds": seconds, "ok": ok, "result": result, "n": n, "status": status, "cpu": cpu}
        ),
        flush=True,
    )


def _cpu() -> float:
    """User + system CPU seconds of this process and of its waited-for children so far."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

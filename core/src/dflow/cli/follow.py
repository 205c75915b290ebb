"""``dflow logs`` and ``dflow watch``: follow a workflow from another terminal."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from . import Command
from .tables import get
from .workflows import engine_of, follow

RUNNING = ("Pending", "Running", "", None)


def resolve_step(engine: Any, workflow_id: str, step: str) -> Any:
    """A step by id, display name or key; an error listing the candidates otherwise."""
    from ..engine import EngineError

    steps = engine.query_step(workflow_id)
    for field in ("id", "displayName", "key", "name"):
        found = [s for s in steps if get(s, field) == step]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            ids = ", ".join(get(s, "id") for s in found[:10])
            raise EngineError(
                f"workflow '{workflow_id}' has {len(found)} steps named '{step}' ({ids}): "
                "give the step id (dflow get shows them)"
            )
    names = sorted({get(s, "displayName") for s in steps if get(s, "type") == "Pod"})
    raise EngineError(
        f"workflow '{workflow_id}' has no step '{step}' (an id, name or key); steps: "
        + (", ".join(names[:20]) or "none yet")
    )


def _texts(engine: Any, workflow_id: str, step: Any) -> list[tuple[str, str, str]]:
    """(key, header, log text) for one step, or for the workflow's own log and every pod
    step (the key stays the same while a step's phase, in its header, changes)."""
    if step is not None:
        return [("", "", engine.logs(workflow_id, get(step, "id")))]
    whole = engine.logs(workflow_id)  # a background run's own output, when it has one
    out = [("", f"==> {workflow_id} <==", whole)] if whole.strip() else []
    for s in engine.query_step(workflow_id):
        if get(s, "type") == "Pod" and get(s, "phase") not in ("Pending", "Skipped", "Omitted"):
            header = f"==> {get(s, 'displayName')} ({get(s, 'id')}) {get(s, 'phase')} <=="
            out.append((get(s, "id"), header, engine.logs(workflow_id, get(s, "id"))))
    return out


def cmd_logs(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    step = resolve_step(engine, args.id, args.step) if args.step else None
    printed: dict[str, int] = {}
    last = None  # whose text was printed last: a header whenever that changes (as tail -f)
    while True:
        for key, header, text in _texts(engine, args.id, step):
            new = text[printed.get(key, 0) :]
            printed[key] = len(text)
            if not new:
                continue
            if header and key != last:
                print(header)
            last = key
            sys.stdout.write(new if new.endswith("\n") else new + "\n")
            sys.stdout.flush()
        if not args.follow or engine.query_status(args.id) not in RUNNING:
            return 0
        time.sleep(args.interval)


def _logs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="workflow id")
    p.add_argument("step", nargs="?", help="a step's id, name or key (default: every step)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing while it runs")
    p.add_argument("-i", "--interval", type=float, default=1, help="seconds between polls")


def cmd_watch(args: argparse.Namespace) -> int:
    phase = follow(engine_of(args), args.id, args.interval)
    return 0 if phase == "Succeeded" else 1


def _watch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="workflow id")
    p.add_argument("-i", "--interval", type=float, default=1, help="seconds between polls")


COMMANDS = [
    Command("logs", "print the logs of a workflow or of one step", _logs_args, cmd_logs),
    Command("watch", "the live progress of a running workflow", _watch_args, cmd_watch),
]

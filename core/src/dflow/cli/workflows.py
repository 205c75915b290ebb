"""Workflow commands: list, get, getsteps, getkeys, the actions, retry, wait, submit."""

from __future__ import annotations

import argparse
import datetime as _dt
import re
import sys
from collections.abc import Sequence
from typing import Any

from . import Command
from .tables import duration, get, parse_time, print_table, short_time

_ACTIONS = ("delete", "resubmit", "resume", "stop", "suspend", "terminate")
_GROUPS = ("StepGroup", "TaskGroup")


def engine_of(args: argparse.Namespace) -> Any:
    from ..backends import get_engine

    return get_engine(args.engine)


def created(wf: Any) -> str:
    return get(wf, "metadata.creationTimestamp") or get(wf, "status.startedAt")


def wf_name(wf: Any) -> str:
    return get(wf, "id") or get(wf, "metadata.name")


# -- list ----------------------------------------------------------------------------------------

_SINCE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def since_time(text: str) -> _dt.datetime:
    """``--since``: a duration back from now (``30m``, ``2h``, ``7d``) or an ISO date/time."""
    m = _SINCE.match(text.strip())
    if m:
        back = float(m.group(1)) * _UNITS[m.group(2)]
        return _dt.datetime.now(_dt.UTC) - _dt.timedelta(seconds=back)
    t = parse_time(text)
    if t is None:
        print(
            f"dflow list: error: --since {text!r}: give a duration (30m, 2h, 7d) or an ISO "
            "date/time (2026-12-01 or 2026-12-01T08:00)",
            file=sys.stderr,
        )
        raise SystemExit(2)  # a usage error, as argparse exits
    return t


def cmd_list(args: argparse.Namespace) -> int:
    labels = dict(kv.split("=", 1) for kv in args.label.split(",")) if args.label else None
    workflows = engine_of(args).query_workflows(labels)
    statuses = {s.strip().lower() for s in args.status.split(",")} if args.status else None
    since = since_time(args.since) if args.since else None
    rows = []
    for wf in workflows:
        phase = get(wf, "status.phase") or "Pending"
        if statuses and phase.lower() not in statuses:
            continue
        when = created(wf)
        if since is not None:
            at = parse_time(when)
            if at is None or at < since:
                continue
        started, finished = get(wf, "status.startedAt"), get(wf, "status.finishedAt")
        rows.append((wf_name(wf), phase, short_time(when), duration(started, finished), when))
    if not rows:
        what = "matching the filters" if statuses or since or labels else "yet"
        print(f"No workflows {what}.", file=sys.stderr)
        return 0
    rows.sort(key=lambda r: r[4] or "", reverse=True)
    print_table([r[:4] for r in rows], ("NAME", "STATUS", "CREATED", "DURATION"))
    return 0


def _list_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-l", "--label", help="label filter k=v,k2=v2")
    p.add_argument("-s", "--status", help="only these phases, e.g. Failed,Running")
    p.add_argument("--since", help="only workflows created since: 30m, 2h, 7d or a date")


# -- get -----------------------------------------------------------------------------------------


def _base(name: str) -> str:
    from ..progress import base_name

    return base_name(name)


def step_rows(steps: Sequence[Any], shown_failures: int = 3) -> list[tuple[str, ...]]:
    """The steps as a tree: (STEP, ID, PHASE, DURATION, MESSAGE) rows, fan-outs folded."""
    from ..events import containers
    from ..graph.phases import NodeStatus

    by_id = {get(s, "id"): s for s in steps}
    parent = containers(steps)
    inside: dict[str, list[str]] = {}
    for s in sorted(steps, key=lambda s: (get(s, "startedAt") or "~", get(s, "name") or "")):
        if get(s, "id") in parent:
            inside.setdefault(parent[get(s, "id")], []).append(get(s, "id"))
    roots = [s for s in steps if get(s, "id") not in parent]
    rows: list[tuple[str, ...]] = []

    def row(s: Any, depth: int, label: str | None = None, phase: str | None = None) -> None:
        name = label or get(s, "displayName") or get(s, "name")
        rows.append(
            (
                "  " * depth + name,
                get(s, "id"),
                phase or get(s, "phase"),
                duration(get(s, "startedAt"), get(s, "finishedAt")),
                (get(s, "message") or "").replace("\n", " "),
            )
        )

    def children(s: Any) -> list[Any]:
        out = []
        for c in inside.get(get(s, "id"), []):
            node = by_id.get(c)
            if node is None:
                continue
            # Step/Task groups are Argo's bookkeeping: show their members in their place
            out += children(node) if get(node, "type") in _GROUPS else [node]
        return out

    def walk(s: Any, depth: int, seen: set[str]) -> None:
        if get(s, "id") in seen:
            return
        seen.add(get(s, "id"))
        row(s, depth)
        kids = children(s)
        groups: dict[str, list[Any]] = {}
        for k in kids:
            groups.setdefault(_base(get(k, "displayName") or get(k, "name")), []).append(k)
        for base, members in groups.items():
            if len(members) == 1 or base == (get(members[0], "displayName") or ""):
                for m in members:
                    walk(m, depth + 1, seen)
                continue
            label = f"{base} ({len(members)})"
            summary = NodeStatus.of(members).summary()  # as the graph's pictures fold it
            rows.append(("  " * (depth + 1) + label, "", summary, "", ""))
            bad = [m for m in members if get(m, "phase") in ("Failed", "Error")]
            for m in bad[:shown_failures]:
                walk(m, depth + 2, seen)
            if len(bad) > shown_failures:
                rows.append(
                    ("  " * (depth + 2) + f"... {len(bad) - shown_failures} more", "", "", "", "")
                )
            seen.update(get(m, "id") for m in members)

    seen: set[str] = set()
    for r in roots:
        if get(r, "type") in _GROUPS:
            for k in children(r):
                walk(k, 0, seen)
        else:
            walk(r, 0, seen)
    return rows


def cmd_get(args: argparse.Namespace) -> int:
    engine = engine_of(args)
    wf = engine.query(args.id)
    started, finished = get(wf, "status.startedAt"), get(wf, "status.finishedAt")
    for label, value in (
        ("Name", wf_name(wf) or args.id),
        ("Status", get(wf, "status.phase")),
        ("Message", get(wf, "status.message")),
        ("Created", short_time(created(wf))),
        ("Started", short_time(started)),
        ("Finished", short_time(finished)),
        ("Duration", duration(started, finished)),
        ("Location", engine.location(args.id)),
    ):
        if value or label in ("Name", "Status"):
            print(f"{label + ':':<10}{value}")
    print()
    print_table(
        step_rows(engine.query_step(args.id)), ("STEP", "ID", "PHASE", "DURATION", "MESSAGE")
    )
    return 0


def _id_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="workflow id")


# -- getsteps, getkeys, actions -----------------------------------------------------------------


def cmd_getsteps(args: argparse.Namespace) -> int:
    filters = {
        field: value.split(",")
        for field, value in (
            ("name", args.name),
            ("key", args.key),
            ("phase", args.phase),
            ("id", args.step_id),
            ("type", args.type),
        )
        if value
    }
    for step in engine_of(args).query_step(args.id, **filters):
        for label, field in (
            ("Step", "displayName"),
            ("ID", "id"),
            ("Key", "key"),
            ("Type", "type"),
            ("Phase", "phase"),
        ):
            print(f"{label + ':':<8}{get(step, field)}")
        for kind in ("parameters", "artifacts"):
            items = get(step, f"outputs.{kind}", {}) or {}
            shown = {
                k: v
                for k, v in dict(items).items()
                if not k.startswith("dflow_") and k != "main-logs"
            }
            for name, value in shown.items():
                value = get(value, "value", value) if kind == "parameters" else value
                print(f"  output {kind[:-1]} {name}: {value}")
        print()
    return 0


def _getsteps_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("id")
    p.add_argument("-n", "--name")
    p.add_argument("-k", "--key")
    p.add_argument("-p", "--phase")
    p.add_argument("-i", "--id", dest="step_id")
    p.add_argument("-t", "--type")


def cmd_getkeys(args: argparse.Namespace) -> int:
    for step in engine_of(args).query_step(args.id):
        key = get(step, "key", None)
        if key:
            print(key)
    return 0


def cmd_action(args: argparse.Namespace) -> int:
    getattr(engine_of(args), args.command)(args.id)
    print(f"workflow {args.id}: {args.command} requested")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    engine_of(args).retry(args.id, args.step.split(",") if args.step else None)
    print(f"workflow {args.id}: retry requested")
    return 0


def _retry_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("id")
    p.add_argument("-s", "--step", help="step ids id1,id2")


# -- wait, submit --------------------------------------------------------------------------------


def follow(engine: Any, workflow_id: str, interval: float) -> str:
    """Wait for a workflow with the live view and the failure report; its phase."""
    from ..reporting import Session

    with Session(engine, workflow_id, raise_on_failure=False) as session:
        session.announced = True
        phase = engine.wait(workflow_id, interval)
    session.finish(workflow_id, phase)
    return phase


def cmd_wait(args: argparse.Namespace) -> int:
    phase = follow(engine_of(args), args.id, args.interval)
    print(f"workflow {args.id}: {phase}")
    return 0 if phase == "Succeeded" else 1


def _wait_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("id")
    p.add_argument("-i", "--interval", type=float, default=1, help="seconds between polls")


def cmd_submit(args: argparse.Namespace) -> int:
    import dflow

    from ..config import config

    with open(args.file, encoding="utf-8") as fh:
        workflow = dflow.Workflow.from_yaml(fh.read())
    if args.name:
        workflow.id = args.name
    if args.detach:
        config["detach"] = True
    workflow._engine = engine_of(args)
    workflow.raise_on_failure = False
    result = workflow.submit()
    wf_id = workflow.id or get(result, "id")
    phase = get(result, "status.phase")
    if args.wait and phase in ("Pending", "Running", ""):
        phase = workflow.wait()
    print(f"Workflow {wf_id} submitted" + (f": {phase}" if phase not in ("", "Pending") else ""))
    return 1 if phase in ("Failed", "Error") else 0


def _submit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="an Argo Workflow manifest (YAML), as wf.to_yaml() writes")
    p.add_argument("-d", "--detach", action="store_true", help="run in the background (local)")
    p.add_argument("-w", "--wait", action="store_true", help="wait for the end; exit 1 if it fails")
    p.add_argument("-n", "--name", help="workflow id")


def _action(name: str) -> Command:
    return Command(name, f"{name} a workflow", _id_arg, cmd_action)


COMMANDS = [
    Command("list", "list workflows (name, status, created, duration)", _list_args, cmd_list),
    Command("get", "show a workflow and its steps as a tree", _id_arg, cmd_get),
    Command("getsteps", "show steps with their outputs", _getsteps_args, cmd_getsteps),
    Command("getkeys", "list the keys of a workflow's steps", _id_arg, cmd_getkeys),
    *(_action(a) for a in _ACTIONS),
    Command("retry", "retry a workflow (or some steps)", _retry_args, cmd_retry),
    Command("wait", "wait for a workflow to finish (exit 1 if it fails)", _wait_args, cmd_wait),
    Command("submit", "submit a workflow YAML file", _submit_args, cmd_submit),
]

"""The ``dflow`` command (also ``python -m dflow``).

``dflow plugins`` and ``dflow config`` inspect the installation; the workflow commands (list,
get, getsteps, ..., submit) act through the configured engine. Only argparse is imported at
module level so ``dflow --help`` stays fast; everything else is imported by the command that
needs it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

_ACTIONS = ("delete", "resubmit", "resume", "stop", "suspend", "terminate")


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    rows = [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["   ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _get(obj: Any, dotted: str, default: Any = "") -> Any:
    """``obj.a.b`` for attribute- or mapping-style query objects (ArgoWorkflow, ArgoStep)."""
    for part in dotted.split("."):
        if obj is None:
            return default
        if isinstance(obj, dict):
            obj = obj.get(part)
        else:
            try:
                obj = getattr(obj, part)
            except (AttributeError, KeyError):
                return default
    return default if obj is None else obj


# -- inspection commands ---------------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace) -> int:
    from .plugins.manager import get_plugin_manager

    pm = get_plugin_manager()
    rows = [(p.name, p.distribution, p.version, ", ".join(p.hooks)) for p in pm.describe()]
    print(_table(rows, ("NAME", "DISTRIBUTION", "VERSION", "HOOKS")))
    for skipped in pm.disabled():
        print(f"disabled: {skipped.name} ({skipped.distribution} {skipped.version})")
    for failure in pm.failures:
        print(f"failed: {failure.name} ({failure.distribution} {failure.version}): {failure.error}")
    if args.verbose:
        for kind in ("engine", "storage", "executor", "renderer"):
            names = sorted(pm.records(kind))
            print(f"{kind}s: {', '.join(names) or '-'}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from . import backends
    from .config import ConfigError, config
    from .plugins.manager import PluginError, get_plugin_manager
    from .settings import SECTIONS, load_settings

    settings = load_settings()
    settings.apply_config()
    pm = get_plugin_manager()
    print(f"file:     {settings.source}")
    requested = backends.requested_engine(args.engine, settings)
    source = (
        "argument"
        if args.engine
        else "config['mode']"
        if config.get("mode")
        else ("file" if settings.engine else "default")
    )
    try:
        engine = f"{pm.engine(requested).name} (from {source})"
    except PluginError as exc:
        engine = f"{requested} (from {source}): {exc}"
    print(f"engine:   {engine}")
    try:
        kind = backends.storage_kind(settings)
        print(f"storage:  {backends.storage_name(settings)} ({kind})")
    except (PluginError, ConfigError) as exc:
        print(f"storage:  {exc}")
    print(f"executor: {settings.executor or '-'}")
    status = 0
    try:
        settings.check_sections(pm)
    except ConfigError as exc:  # the same error a run would raise
        print(f"error:    {exc}")
        status = 1
    for kind, sections in settings.sections.items():
        for name in sections:
            table = f"[{settings.prefix}{SECTIONS[kind]}.{name}]"  # as the file spells it
            try:
                cfg = settings.plugin_config(kind, name)
                print(f"{table} {cfg!r}")
            except Exception as exc:  # report every section, not just the first bad one
                print(f"{table} error: {exc}")
                status = 1
    return status


# -- workflow commands -------------------------------------------------------------------------


def _engine(args: argparse.Namespace) -> Any:
    from .backends import get_engine

    return get_engine(args.engine)


def cmd_list(args: argparse.Namespace) -> int:
    labels = dict(kv.split("=", 1) for kv in args.label.split(",")) if args.label else None
    workflows = _engine(args).query_workflows(labels)
    rows = [
        (
            _get(wf, "id") or _get(wf, "metadata.name"),
            _get(wf, "status.phase"),
            _get(wf, "metadata.creationTimestamp"),
            _get(wf, "status.finishedAt"),
        )
        for wf in workflows
    ]
    print(_table(rows, ("NAME", "STATUS", "CREATED", "FINISHED")))
    return 0


def _step_rows(steps: Sequence[Any]) -> list[tuple[str, ...]]:
    return [
        (
            _get(s, "displayName") or _get(s, "name"),
            _get(s, "id"),
            _get(s, "key") or "",
            _get(s, "type"),
            _get(s, "phase"),
        )
        for s in steps
        if _get(s, "type") != "StepGroup"
    ]


def cmd_get(args: argparse.Namespace) -> int:
    engine = _engine(args)
    wf = engine.query(args.id)
    for label, field in (
        ("Name", "id"),
        ("Status", "status.phase"),
        ("Started", "status.startedAt"),
        ("Finished", "status.finishedAt"),
    ):
        print(f"{label + ':':<10}{_get(wf, field)}")
    print()
    print(_table(_step_rows(engine.query_step(args.id)), ("STEP", "ID", "KEY", "TYPE", "PHASE")))
    return 0


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
    for step in _engine(args).query_step(args.id, **filters):
        for label, field in (
            ("Step", "displayName"),
            ("ID", "id"),
            ("Key", "key"),
            ("Type", "type"),
            ("Phase", "phase"),
        ):
            print(f"{label + ':':<8}{_get(step, field)}")
        for kind in ("parameters", "artifacts"):
            items = _get(step, f"outputs.{kind}", {}) or {}
            shown = {
                k: v
                for k, v in dict(items).items()
                if not k.startswith("dflow_") and k != "main-logs"
            }
            for name, value in shown.items():
                value = _get(value, "value", value) if kind == "parameters" else value
                print(f"  output {kind[:-1]} {name}: {value}")
        print()
    return 0


def cmd_getkeys(args: argparse.Namespace) -> int:
    for step in _engine(args).query_step(args.id):
        key = _get(step, "key", None)
        if key:
            print(key)
    return 0


def cmd_action(args: argparse.Namespace) -> int:
    getattr(_engine(args), args.command)(args.id)
    print(f"workflow {args.id}: {args.command} requested")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    _engine(args).retry(args.id, args.step.split(",") if args.step else None)
    print(f"workflow {args.id}: retry requested")
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    phase = _engine(args).wait(args.id, interval=args.interval)
    print(f"workflow {args.id}: {phase}")
    return 0 if phase == "Succeeded" else 1


def cmd_submit(args: argparse.Namespace) -> int:
    import dflow

    from .config import config

    workflow_cls = getattr(dflow, "Workflow", None)
    if workflow_cls is None or not hasattr(workflow_cls, "from_yaml"):
        raise SystemExit("dflow: error: this dflow cannot load workflows from YAML yet")
    with open(args.file, encoding="utf-8") as fh:
        workflow = workflow_cls.from_yaml(fh.read())
    if args.name:
        workflow.id = args.name
    if args.detach:
        config["detach"] = True
    result = _engine(args).submit(workflow)
    print(f"Workflow {_get(result, 'id') or getattr(workflow, 'id', '')} submitted")
    return 0


# -- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dflow", description="dflow command line")
    parser.add_argument("-e", "--engine", help="engine to use (default: configuration)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("plugins", help="list installed plugins")
    p.add_argument("-v", "--verbose", action="store_true", help="also list names per kind")
    p.set_defaults(func=cmd_plugins)
    sub.add_parser(
        "config", help="show the resolved engine, storage, executor and file"
    ).set_defaults(func=cmd_config)

    p = sub.add_parser("list", help="list workflows")
    p.add_argument("-l", "--label", help="label filter k=v,k2=v2")
    p.set_defaults(func=cmd_list)
    for name, func, text in (
        ("get", cmd_get, "show a workflow and its steps"),
        ("getkeys", cmd_getkeys, "list the keys of a workflow's steps"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("id")
        p.set_defaults(func=func)
    p = sub.add_parser("getsteps", help="show steps with their outputs")
    p.add_argument("id")
    p.add_argument("-n", "--name")
    p.add_argument("-k", "--key")
    p.add_argument("-p", "--phase")
    p.add_argument("-i", "--id", dest="step_id")
    p.add_argument("-t", "--type")
    p.set_defaults(func=cmd_getsteps)
    for action in _ACTIONS:
        p = sub.add_parser(action, help=f"{action} a workflow")
        p.add_argument("id")
        p.set_defaults(func=cmd_action)
    p = sub.add_parser("retry", help="retry a workflow (or some steps)")
    p.add_argument("id")
    p.add_argument("-s", "--step", help="step ids id1,id2")
    p.set_defaults(func=cmd_retry)
    p = sub.add_parser("wait", help="wait for a workflow to finish")
    p.add_argument("id")
    p.add_argument("-i", "--interval", type=float, default=1)
    p.set_defaults(func=cmd_wait)
    p = sub.add_parser("submit", help="submit a workflow YAML file")
    p.add_argument("file")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-n", "--name", help="workflow id")
    p.set_defaults(func=cmd_submit)
    from .graph import cli as graph_cli  # pictures and the HTML report

    graph_cli.add_graph_command(sub)
    graph_cli.add_report_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dflow`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if os.environ.get("LOG_LEVEL"):
        logging.basicConfig(level=os.environ["LOG_LEVEL"].upper())
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .config import ConfigError
    from .engine import EngineError
    from .plugins.manager import PluginError

    try:
        return args.func(args)
    except (ConfigError, EngineError, PluginError) as exc:
        print(f"dflow: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

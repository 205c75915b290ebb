"""``dflow plugins``, ``dflow config`` and ``dflow --version``: the installation."""

from __future__ import annotations

import argparse

from . import Command
from .tables import print_table


def versions() -> str:
    """``dflow-core 1.2.3`` and a line per installed plugin distribution."""
    from ..plugins.manager import get_plugin_manager

    infos = get_plugin_manager().describe()  # the builtin plugin carries dflow-core's version
    lines = [f"dflow-core {info.version}" for info in infos if info.name == "builtin"]
    seen = {"dflow-core"}
    for info in infos:
        if info.distribution not in seen and info.distribution != "registered directly":
            seen.add(info.distribution)
            lines.append(f"{info.distribution} {info.version}  (plugin {info.name})")
    return "\n".join(lines)


def cmd_plugins(args: argparse.Namespace) -> int:
    from ..plugins.discovery import installed
    from ..plugins.manager import GROUP, get_plugin_manager

    installed(GROUP, fresh=True)  # the truth, not the cache's: this is where users look
    pm = get_plugin_manager()
    rows = [(p.name, p.distribution, p.version, ", ".join(p.hooks)) for p in pm.describe()]
    print_table(rows, ("NAME", "DISTRIBUTION", "VERSION", "HOOKS"))
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
    from .. import backends
    from ..config import ConfigError, config
    from ..plugins.manager import PluginError, get_plugin_manager
    from ..settings import SECTIONS, load_settings

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


def _plugins_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="also list names per kind")


COMMANDS = [
    Command("plugins", "list installed plugins", _plugins_args, cmd_plugins),
    Command(
        "config", "show the resolved engine, storage, executor and file", lambda p: None, cmd_config
    ),
]

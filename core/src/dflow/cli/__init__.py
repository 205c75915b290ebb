"""The ``dflow`` command (also ``python -m dflow``).

Each command module lists its commands in ``COMMANDS`` (:class:`Command` records: name, help,
a function adding its arguments, the handler); :data:`MODULES` names the modules the parser
takes commands from, so a new group of commands is one line there. Only argparse is imported
at module level so ``dflow --help`` stays fast; a handler imports what it needs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple


class Command(NamedTuple):
    """One ``dflow`` subcommand: ``add_arguments(parser)`` then ``handler(args) -> exit code``."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]


#: modules whose ``COMMANDS`` make up the command line, in the order ``--help`` lists them
MODULES = [
    "dflow.cli.inspect",
    "dflow.cli.workflows",
    "dflow.cli.follow",
]


def commands() -> list[Command]:
    out: list[Command] = []
    for name in MODULES:
        out += importlib.import_module(name).COMMANDS
    return out


class _VersionAction(argparse.Action):
    """``--version``: core's version and each installed plugin's (loads the plugins)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show versions and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from .inspect import versions

        print(versions())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dflow", description="dflow command line")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("-e", "--engine", help="engine to use (default: configuration)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands():
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(p)
        p.set_defaults(func=command.handler)
    from ..graph import cli as graph_cli  # pictures and the HTML report

    graph_cli.add_graph_command(sub)
    graph_cli.add_report_command(sub)
    from .cache import register as register_cache  # cache, explain: docs/cache.md

    register_cache(sub)
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
    from ..config import ConfigError
    from ..engine import EngineError
    from ..plugins.manager import PluginError

    try:
        return args.func(args)
    except (ConfigError, EngineError, PluginError) as exc:
        print(f"dflow: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``dflow cache`` and ``dflow explain`` commands' arguments (the step cache: docs/cache.md).

Registering them must stay light (``dflow --help`` imports no settings, attrs or cattrs): the
handlers import :mod:`dflow.cache.cli` when they run.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    """Seconds from ``90``, ``30m``, ``12h``, ``7d``, ``2w``."""
    match = _AGE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; write e.g. 30m, 12h, 7d")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def _run(name: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        from ..cache import cli

        try:
            return int(getattr(cli, name)(args))
        except OSError as exc:  # a bucket refusing us (credentials) or unreachable
            print(f"dflow: error: the step cache: {exc}", file=sys.stderr)
            return 1

    return handler


def register(sub: Any) -> None:
    """Add ``cache`` and ``explain`` to the ``dflow`` command's subparsers."""
    p = sub.add_parser("cache", help="list, show and prune step cache entries")
    p.add_argument("--cache-dir", help="the cache directory (default: [cache] location)")
    verbs = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    verbs.add_parser("ls", help="list entries").set_defaults(func=_run("cmd_ls"))
    show = verbs.add_parser("show", help="show an entry's manifest")
    show.add_argument("key", help="a key or its prefix")
    show.set_defaults(func=_run("cmd_show"))
    pr = verbs.add_parser("prune", help="remove unusable, old or excess entries")
    pr.add_argument("--older-than", type=parse_age, help="age: 30m, 12h, 7d")
    pr.add_argument("--max-size", help="keep at most this much: 500M, 10G")
    pr.set_defaults(func=_run("cmd_prune"))
    p = sub.add_parser("explain", help="why a step ran or was reused from the cache")
    p.add_argument("id", help="the workflow id of the run")
    p.add_argument(
        "step", nargs="?", help="the step's name or path (default: every cached step of the run)"
    )
    p.add_argument("--cache-dir", help="the cache directory (default: [cache] location)")
    p.set_defaults(func=_run("cmd_explain"))

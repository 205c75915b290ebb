"""``dflow cache ls|show|prune`` and ``dflow explain ID STEP``."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from typing import Any

from .explain import explain_step
from .settings import cache_settings, parse_size
from .store import disk_usage, list_entries, prune, show_entry

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    """Seconds from ``90``, ``30m``, ``12h``, ``7d``, ``2w``."""
    match = _AGE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; write e.g. 30m, 12h, 7d")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def _size(n: float) -> str:
    for unit in ("B", "K", "M", "G"):
        if n < 1024:
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}T"


def _root(args: argparse.Namespace) -> str:
    return args.cache_dir or cache_settings().root


def cmd_ls(args: argparse.Namespace) -> int:
    entries = list_entries(_root(args))
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.created))
        state = f"  UNUSABLE: {e.problem}" if e.problem else ""
        print(f"{e.key[:16]}  {_size(e.size):>7}  {when}  {e.run}  {e.step}{state}")
    total = sum(e.size for e in entries)
    on_disk = disk_usage(_root(args))
    print(f"{len(entries)} entries, {_size(total)} ({_size(on_disk)} on disk) in {_root(args)}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    try:
        manifest = show_entry(_root(args), args.key)
    except LookupError as exc:
        print(f"dflow: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(manifest, indent=2, sort_keys=True))
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    max_size = parse_size(args.max_size, "--max-size") if args.max_size else None
    if args.older_than is None and max_size is None:
        max_size = cache_settings().max_bytes
    removed = prune(_root(args), args.older_than, max_size)
    freed = sum(e.size for e in removed)
    print(f"removed {len(removed)} entries ({_size(freed)})")
    return 0


def explain_lines(run_id: str, step: str, root: str | None = None) -> list[str]:
    """``dflow explain``'s lines: reused slices counted per source run, the others each."""
    found = explain_step(run_id, step, root)
    lines: list[str] = []
    reused: Counter[Any] = Counter()
    for e in found:
        if e.outcome == "reused" and e.slice is not None:
            reused[(e.step, e.source_run)] += 1
            continue
        where = f"{e.step} slice {e.slice}" if e.slice is not None else e.step
        lines.append(f"{where}: {e.text}")
    for (name, run), count in sorted(reused.items()):
        lines.append(f"{name}: {count} slices reused from run {run}")
    return lines


def cmd_explain(args: argparse.Namespace) -> int:
    lines = explain_lines(args.id, args.step, args.cache_dir)
    if not lines:
        print(
            f"dflow: no cache record of step {args.step!r} in run {args.id!r} (did the step "
            "run with cache=True, and is this the cache it used?)",
            file=sys.stderr,
        )
        return 1
    print("\n".join(lines))
    return 0


def register(sub: Any) -> None:
    """Add ``cache`` and ``explain`` to the ``dflow`` command's subparsers."""
    p = sub.add_parser("cache", help="list, show and prune step cache entries")
    p.add_argument("--cache-dir", help="the cache directory (default: [cache] location)")
    verbs = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    verbs.add_parser("ls", help="list entries").set_defaults(func=cmd_ls)
    show = verbs.add_parser("show", help="show an entry's manifest")
    show.add_argument("key", help="a key or its prefix")
    show.set_defaults(func=cmd_show)
    pr = verbs.add_parser("prune", help="remove unusable, old or excess entries")
    pr.add_argument("--older-than", type=parse_age, help="age: 30m, 12h, 7d")
    pr.add_argument("--max-size", help="keep at most this much: 500M, 10G")
    pr.set_defaults(func=cmd_prune)
    p = sub.add_parser("explain", help="why a step ran or was reused from the cache")
    p.add_argument("id", help="the workflow id of the run")
    p.add_argument("step", help="the step's name or path")
    p.add_argument("--cache-dir", help="the cache directory (default: [cache] location)")
    p.set_defaults(func=cmd_explain)

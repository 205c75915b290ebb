"""What ``dflow cache ls|show|prune`` and ``dflow explain ID [STEP]`` do (the parser is in
:mod:`dflow.cli.cache`, which imports this module only when one of them runs)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from .explain import explain_lines
from .settings import cache_settings, parse_size
from .store import disk_usage, list_entries, prune, show_entry


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


def cmd_explain(args: argparse.Namespace) -> int:
    lines = explain_lines(args.id, args.step, args.cache_dir)
    if not lines:
        what = "any step" if args.step is None else f"step {args.step!r}"
        print(
            f"dflow: no cache record of {what} in run {args.id!r} (did the step "
            "run with cache=True, and is this the cache it used?)",
            file=sys.stderr,
        )
        return 1
    print("\n".join(lines))
    return 0

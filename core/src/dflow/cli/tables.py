"""Output helpers of the ``dflow`` command: rich tables on stdout, values as users read them."""

from __future__ import annotations

import datetime as _dt
import sys
from collections.abc import Sequence
from typing import Any


def stdout_console() -> Any:
    """A rich console on stdout; not a terminal: wide and colourless, for pipes and greps."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=400, no_color=True, highlight=False, soft_wrap=True)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> Any:
    """A borderless rich table (columns split on whitespace, like ``kubectl get``)."""
    from rich.table import Table

    t = Table(box=None, pad_edge=False, header_style="bold", padding=(0, 3, 0, 0))
    for h in header:
        t.add_column(h, overflow="fold")
    for row in rows:
        t.add_row(*(str(c) for c in row))
    return t


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    console = stdout_console()
    if sys.stdout.isatty():
        console.print(table(rows, header))
        return
    with console.capture() as captured:
        console.print(table(rows, header))
    # cells are padded to their column's width: trailing blanks only get in a grep's way
    print("\n".join(line.rstrip() for line in captured.get().splitlines()))


def get(obj: Any, dotted: str, default: Any = "") -> Any:
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


def parse_time(text: Any) -> _dt.datetime | None:
    if not text:
        return None
    try:
        t = _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


def duration(started: Any, finished: Any) -> str:
    """``1m05s`` between two timestamps (up to now while running); "" before the start."""
    start = parse_time(started)
    if start is None:
        return ""
    end = parse_time(finished) or _dt.datetime.now(_dt.UTC)
    return human_seconds((end - start).total_seconds())


def human_seconds(seconds: float) -> str:
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.1f}s" if s < 10 else f"{int(s)}s"
    m, sec = divmod(int(s), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def short_time(text: Any) -> str:
    """A timestamp as ``2026-12-06 04:38:31`` (UTC), "" when unknown."""
    t = parse_time(text)
    return t.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if t else ""

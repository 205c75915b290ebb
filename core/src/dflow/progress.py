"""Live progress of a running workflow, built from its step events.

:class:`ProgressModel` folds ``dflow_step_event`` events into one line per Steps/DAG level and
per fan-out (done, running and failed counts, rate, ETA); applying an event is a few dict
operations, so a 10,000-slice fan-out pays nothing measurable. :class:`LiveView` draws the
model: a rich Live display on a terminal, plain lines every ``progress_interval`` seconds
otherwise. The engine behind the events does not matter (local run, Argo polls).
rich is imported only when a view starts.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from typing import Any

import attrs

from .plugins.records import StepEvent

GROUP_TYPES = frozenset(("StepGroup", "TaskGroup"))
CONTAINER_TYPES = frozenset(("Steps", "DAG"))
OK = frozenset(("Succeeded", "Skipped", "Omitted"))
BAD = frozenset(("Failed", "Error"))
_ITEM = re.compile(r"\(\d+:.*\)$")


def base_name(name: str) -> str:
    """``square(12:12)`` -> ``square``: the name a fan-out's items share."""
    return _ITEM.sub("", name)


@attrs.define
class Line:
    """One line of the view: a Steps/DAG level or a group of same-named steps (a fan-out)."""

    label: str
    depth: int
    container: bool
    phase: str = "Pending"
    total: int = 0  # the fan-out's size when its group states it, else the items seen
    seen: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0
    first: float = 0.0
    last: float = 0.0

    def rate(self, now: float) -> float:
        """Finished items per second since the first one started."""
        spent = (self.last if self.finished else now) - self.first
        return (self.done + self.failed) / spent if spent > 0 else 0.0

    @property
    def finished(self) -> bool:
        return self.done + self.failed >= self.total and not self.running

    def eta(self, now: float) -> float | None:
        rate = self.rate(now)
        left = self.total - self.done - self.failed
        return left / rate if rate > 0 and left > 0 else None


class ProgressModel:
    """The state a live view draws, updated by :meth:`apply` from any thread."""

    def __init__(self, workflow_id: str | None = None) -> None:
        self.workflow_id = workflow_id
        self.root_phase = "Pending"
        self.started = time.monotonic()
        self._nodes: dict[str, tuple[str | None, str]] = {}  # id -> (line key, phase)
        self._parents: dict[str, str | None] = {}
        self._lines: dict[str, Line] = {}
        self._retries: set[str] = set()
        self._group_sizes: dict[str, int] = {}  # group node -> its fan-out's size
        self._lock = threading.Lock()

    def apply(self, event: StepEvent) -> None:
        """Fold one event in (events of another workflow are ignored)."""
        if self.workflow_id is None:
            self.workflow_id = event.workflow_id
        elif event.workflow_id != self.workflow_id:
            return
        with self._lock:
            now = time.monotonic()
            self._parents.setdefault(event.step_id, event.parent_id)
            if event.parent_id is None:
                self.root_phase = event.phase
                return
            if event.type in GROUP_TYPES and event.progress:
                self._group_sizes[event.step_id] = _size(event.progress)
            known = self._nodes.get(event.step_id)
            key = known[0] if known else self._line_key(event, now)
            self._nodes[event.step_id] = (key, event.phase)
            line = self._lines.get(key) if key else None
            if line is None:
                return
            line.last = now
            if line.container:
                line.phase = event.phase
                return
            if known is None:
                line.seen += 1
                size = self._group_sizes.get(event.parent_id or "", 0)
                line.total = max(line.seen, size, line.total)
            else:
                self._count(line, known[1], -1)
            self._count(line, event.phase, 1)

    @staticmethod
    def _count(line: Line, phase: str, n: int) -> None:
        if phase in OK:
            line.done += n
        elif phase in BAD:
            line.failed += n
        elif phase == "Running":
            line.running += n

    def _line_key(self, event: StepEvent, now: float) -> str | None:
        if event.type == "Retry":  # its attempts are one step, counted once
            self._retries.add(event.step_id)
        if event.type in GROUP_TYPES or event.parent_id in self._retries:
            return None
        parent = self._visible_parent(event.parent_id)
        container = event.type in CONTAINER_TYPES
        key = event.step_id if container else f"{parent}/{base_name(event.name)}"
        if key not in self._lines:
            depth = self._depth(parent)
            self._lines[key] = Line(base_name(event.name), depth, container, first=now)
        return key

    def _visible_parent(self, node_id: str | None) -> str | None:
        """The nearest ancestor drawn as a line (Step/Task groups are not)."""
        hops = 0
        while node_id is not None and hops < 1000:
            key = (self._nodes.get(node_id) or (None, ""))[0]
            if key is not None and key in self._lines and self._lines[key].container:
                return node_id
            node_id = self._parents.get(node_id)
            hops += 1
        return None

    def _depth(self, parent: str | None) -> int:
        depth = 0
        while parent is not None:
            depth += 1
            parent = self._visible_parent(self._parents.get(parent))
        return depth

    def lines(self) -> list[Line]:
        """A copy of the lines, in the order they first appeared."""
        with self._lock:
            return [attrs.evolve(line) for line in self._lines.values()]

    def summary(self) -> str:
        """``fan-abc12 Running 0:00:12``: the header line."""
        return f"{self.workflow_id or 'workflow'} {self.root_phase} {_clock(self.elapsed())}"

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def _size(progress: str) -> int:
    """``"3/1000"`` -> 1000 (0 when unreadable)."""
    try:
        return int(progress.partition("/")[2])
    except ValueError:
        return 0


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def describe(line: Line, now: float) -> str:
    """The counts of one line as plain text."""
    if line.container:
        return f"{line.label}: {line.phase}"
    label = f"{line.label} ({line.total})" if line.total > 1 else line.label
    parts = [f"{line.done}/{line.total} done"]
    if line.failed:
        parts.append(f"{line.failed} failed")
    if line.running:
        parts.append(f"{line.running} running")
    if line.total > 1:
        parts.append(f"{line.rate(now):.1f}/s")
        eta = line.eta(now)
        if eta is not None:
            parts.append(f"ETA {_clock(eta)}")
    return f"{label}: {', '.join(parts)}"


MAX_LINES = 40


class LiveView:
    """Draws a :class:`ProgressModel` while a workflow runs.

    ``mode`` is ``"rich"`` (a terminal: redrawn in place), ``"plain"`` (a line per step group
    every ``interval`` seconds) or ``None`` (nothing). ``console`` is the rich console to draw
    on (stderr by default).
    """

    def __init__(
        self,
        model: ProgressModel,
        mode: str | None,
        interval: float = 10.0,
        console: Any = None,
        stream: Any = None,
    ) -> None:
        self.model, self.mode, self.interval = model, mode, interval
        self.console, self.stream = console, stream
        self._live: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._live is not None or self._thread is not None

    def start(self) -> None:
        if self.started:
            return
        if self.mode == "rich":
            from rich.live import Live

            from .reporting import console

            self._live = Live(
                _Renderable(self.model),
                console=self.console or console(),
                refresh_per_second=4,
                transient=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        elif self.mode == "plain":
            self._thread = threading.Thread(target=self._plain, name="dflow-progress", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def _plain(self) -> None:
        while not self._stop.wait(self.interval):
            self.write_plain()

    def write_plain(self) -> None:
        """Print the current state as plain lines (one per step group)."""
        now = time.monotonic()
        out = self.stream or sys.stderr
        lines = [f"[dflow] {self.model.summary()}"]
        for line in self.model.lines()[-MAX_LINES:]:
            lines.append(f"[dflow] {'  ' * line.depth}{describe(line, now)}")
        out.write("\n".join(lines) + "\n")
        out.flush()


class _Renderable:
    """What rich's Live redraws: the header and a table with a bar per step group."""

    def __init__(self, model: ProgressModel) -> None:
        self.model = model

    def __rich__(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        now = time.monotonic()
        table = Table.grid(padding=(0, 1))
        table.add_row(Text(self.model.summary(), style="bold"))
        grid = Table.grid(padding=(0, 2))
        for line in self.model.lines()[-MAX_LINES:]:
            indent = "  " * line.depth
            if line.container:
                style = _phase_style(line.phase)
                grid.add_row(Text(f"{indent}{line.label}", style="bold"), Text(line.phase, style))
                continue
            label = f"{indent}{line.label}" + (f" ({line.total})" if line.total > 1 else "")
            counts = Text()
            counts.append(f"{line.done}/{line.total}", style="green")
            if line.failed:
                counts.append(f"  {line.failed} failed", style="red bold")
            if line.running:
                counts.append(f"  {line.running} running", style="cyan")
            rate = eta = ""
            if line.total > 1:
                rate = f"{line.rate(now):.1f}/s"
                left = line.eta(now)
                eta = f"ETA {_clock(left)}" if left is not None else ""
            bar = ProgressBar(total=max(line.total, 1), completed=line.done + line.failed, width=24)
            grid.add_row(Text(label), bar, counts, Text(rate), Text(eta))
        table.add_row(grid)
        return table


def _phase_style(phase: str) -> str:
    if phase in OK:
        return "green"
    if phase in BAD:
        return "red bold"
    return "cyan"

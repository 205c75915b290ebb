"""Deferred writes of the layout's files that no step reads (see :mod:`layout`).

``name``, ``type``, ``phase``, parameter type metadata, ``dflow_key``, copies of outputs and
links to them, empty ``inputs/``/``outputs/`` dirs, a Python OP's ``script``: none of these is
on a step's critical path, and on a slow disk each costs about as much as a step's own work.
They are queued and written by the run's event loop about a millisecond later, typically while
a worker runs the next step, in slices of a few milliseconds so that a wide fan-out's backlog
never keeps the loop from handing out work; a phase changed several times before it is written
(Pending, Running) is written once.

Order is kept: a node's files queued before its terminal phase are on disk whenever its
``phase`` file shows that phase, so a resumed run (see :func:`stepfiles.restore_files`) only
rewrites the steps whose ``phase`` file lags the journal. A ``children`` file grows with every
child (a 10,000-item fan-out), so it is rewritten at most every ``CHILDREN_DELAY`` seconds per
thousand entries of the largest: rewriting it at a fixed rate made a wide fan-out cost
quadratic time (at 10,000 items, a quarter of the run went to encoding ``children`` files).
Outside a running event loop (reuse, resume) writes happen at once.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import time
from typing import Any

from .layout import overwrite, place, write_new, write_text

_PUT, _WRITE, _LINK, _MKDIR = range(4)


class Mirror:
    """A queue of file writes, written in order on the run's event loop."""

    DELAY = 0.001  # seconds from the first queued write to the batch
    SLICE = 0.004  # seconds of writing per turn of the event loop
    CHILDREN_DELAY = 0.1

    def __init__(self) -> None:
        self.ops: collections.deque[tuple[int, Any, Any]] = collections.deque()
        self._largest = 0  # entries of the largest children file written so far
        self.latest: dict[str, tuple[int, str]] = {}  # path -> (version, text) of puts
        self.version = 0
        self._handle: asyncio.Handle | None = None
        self.children: dict[str, dict[str, str]] = {}  # holder dir -> {order: step dir name}
        self._dirty: set[str] = set()
        self._children_handle: asyncio.TimerHandle | None = None

    # -- queueing ----------------------------------------------------------------------------

    def put(self, path: str, text: str) -> None:
        """Replace a small file (the last put of a path wins, written in its place in order)."""
        self.version += 1
        self.latest[path] = (self.version, text)
        self._queue(_PUT, path, self.version)

    def write(self, path: str, text: str) -> None:
        """Write a new file (parent dirs made on demand)."""
        self._queue(_WRITE, path, text)

    def link(self, target: str, path: str) -> None:
        """``path`` becomes a symlink to ``target``."""
        self._queue(_LINK, target, path)

    def mkdir(self, *paths: str) -> None:
        """Make these dirs, in order (parents first)."""
        self._queue(_MKDIR, paths, None)

    def _queue(self, op: int, a: Any, b: Any) -> None:
        self.ops.append((op, a, b))
        if self._handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # outside the run's loop: write now
                self.flush()
                return
            self._handle = loop.call_later(self.DELAY, self._write_slice)

    # -- writing -----------------------------------------------------------------------------

    def _write_slice(self) -> None:
        self._handle = None
        deadline = time.monotonic() + self.SLICE
        ops = self.ops
        while ops:
            self._do(*ops.popleft())
            if time.monotonic() > deadline and ops:
                self._handle = asyncio.get_running_loop().call_soon(self._write_slice)
                return

    def flush(self) -> None:
        """Write everything queued, now."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        ops = self.ops
        while ops:
            self._do(*ops.popleft())

    def _do(self, op: int, a: Any, b: Any) -> None:
        try:
            if op == _PUT:
                version, text = self.latest.get(a, (None, ""))
                if version != b:
                    return  # a later put of the same path comes further on
                del self.latest[a]
                overwrite(a, text)
            elif op == _WRITE:
                write_new(a, b)
            elif op == _LINK:
                place(a, b, "symlink")
            else:
                for path in a:
                    try:
                        os.mkdir(path)
                    except FileExistsError:
                        pass
        except FileNotFoundError:  # the step dir went away (a deleted workflow)
            pass

    # -- children files ----------------------------------------------------------------------

    def add_child(self, holder: str, order: str, name: str, schedule: bool = True) -> None:
        """Record step dir ``name`` at ``order`` in ``<holder>/children`` (written later, or
        by the next :meth:`flush_children` without ``schedule``)."""
        kids = self.children.setdefault(holder, {})
        if kids.get(order) == name:
            return
        kids[order] = name
        self._dirty.add(holder)
        if schedule and self._children_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush_children()
                return
            # the cost of a rewrite grows with the file: space rewrites out as the file grows,
            # so the time spent on them stays a fixed fraction of the run
            delay = self.CHILDREN_DELAY * max(1.0, self._largest / 1000)
            self._children_handle = loop.call_later(delay, self.flush_children)

    def flush_children(self) -> None:
        if self._children_handle is not None:
            self._children_handle.cancel()
            self._children_handle = None
        dirty, self._dirty = self._dirty, set()
        for holder in dirty:
            self._largest = max(self._largest, len(self.children[holder]))
            path = os.path.join(holder, "children")
            try:
                if not os.path.exists(path):  # pydflow's lock file beside it
                    os.close(os.open(path + ".lock", os.O_WRONLY | os.O_CREAT, 0o644))
                write_text(path, json.dumps(self.children[holder]), make_dirs=False)
            except FileNotFoundError:  # the workflow dir went away (a deleted workflow)
                pass

    def flush_all(self) -> None:
        """Write everything queued (the end of a run)."""
        self.flush()
        self.flush_children()

"""Deferred writes of the layout's files that no step reads (see :mod:`layout`).

``name``, ``type``, ``phase``, parameter type metadata, ``dflow_key``, copies of outputs and
links to them, empty ``inputs/``/``outputs/`` dirs, a Python OP's ``script``: none of these is
on a step's critical path, and on a slow disk each costs about as much as a step's own work.
They are queued and written about a millisecond later, typically while a worker runs the next
step; a phase changed several times before it is written (Pending, Running) is written once.

Who writes depends on the file system of the workflow dir (:func:`memory_backed`). On a disk
(ext4: 50-300 µs per ``mkdir`` or file creation, in the kernel with the GIL released) a writer
thread takes them, so a step's reply never waits behind a batch of writes on the event loop.
On tmpfs (4-20 µs each) the GIL hand-offs of such a thread cost more than the writes: with
the loop busy, the writer waits up to the interpreter's switch interval (5 ms) for the GIL
after each system call, and the loop is interrupted as often (a 1,000-way fan-out took 1.6 s
against 1.2 s). There the event loop writes them itself, in slices of at most ``SLICE``; so
it does on a disk while a fan-out keeps both cores busy (:meth:`fan_out`).

Order is kept: one writer at a time takes the ops in queue order, so a node's files queued
before its terminal phase are on disk whenever its ``phase`` file shows that phase, and a
resumed run (see :func:`stepfiles.restore_files`) only rewrites the steps whose ``phase`` file
lags the journal. :meth:`Mirror.flush` writes what is queued before it returns (a retried
step's outputs are reset after it; the run's end). A ``children`` file grows with every
child (a 10,000-item fan-out), so it is rewritten on the event loop at most every
``CHILDREN_DELAY`` seconds per thousand entries of the largest: rewriting it at a fixed rate
made a wide fan-out cost quadratic time (at 10,000 items, a quarter of the run went to encoding
``children`` files). Outside a running event loop (reuse, resume) writes happen at once.

With nothing queued and the loop quiet for ``DELAY`` (a worker runs the step), or at once
when the runner has handed a step to a worker and waits (:meth:`idle`), the writer thread also
makes the next steps' dirs ahead (:class:`layout.SpareDirs`, :meth:`take_spare`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from .layout import (
    SpareDirs,
    link_shared,
    overwrite,
    place,
    write_like,
    write_new,
    write_text,
)

_PUT, _WRITE, _LINK, _MKDIR, _RMDIR, _SHARE, _LIKE = range(7)


#: file systems held in memory, where a write costs less than handing the GIL to a thread
MEMORY_FS = frozenset({"tmpfs", "ramfs"})


def memory_backed(path: str, mountinfo: str = "/proc/self/mountinfo") -> bool:
    """Whether ``path`` is on a file system held in memory (tmpfs), per the mount table of
    this process (its longest mount point above ``path``); False where there is none."""
    try:
        with open(mountinfo) as f:
            lines = f.read().splitlines()
    except OSError:  # not Linux: assume a disk
        return False
    path = os.path.realpath(path)
    best, fstype = "", ""
    for line in lines:
        # "<id> <parent> <maj:min> <root> <mount point> <options> [optional...] - <type> ..."
        left, sep, right = line.partition(" - ")
        fields = left.split(" ")
        if not sep or len(fields) < 5:
            continue
        point = fields[4].replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fstype = point, right.split(" ", 1)[0]
    return fstype in MEMORY_FS


class Mirror:
    """A queue of file writes, written in order by a writer thread (``threaded``) or by the
    event loop."""

    DELAY = 0.001  # seconds from waking to a batch (writes of one step's end come together)
    SLICE = 0.004  # seconds of writing per turn of the event loop (without the thread)
    CHILDREN_DELAY = 0.1

    def __init__(
        self, threaded: bool = True, spares: SpareDirs | None = None, store: str | None = None
    ) -> None:
        self.threaded = threaded
        self.store = store  # where :meth:`share` keeps the one copy of each text
        # made by the writer thread when idle; none without it (on tmpfs a mkdir costs 4 µs)
        self.spares = spares if threaded else None
        if self.spares is not None:
            self.spares.discard(final=False)  # a killed run's
        self._handle: asyncio.Handle | None = None  # the loop's next slice (no thread)
        self.ops: collections.deque[tuple[int, Any, Any]] = collections.deque()
        self._largest = 0  # entries of the largest children file written so far
        self.latest: dict[str, tuple[int, str]] = {}  # path -> (version, text) of puts
        self.version = 0
        self.children: dict[str, dict[str, str]] = {}  # holder dir -> {order: step dir name}
        self._dirty: set[str] = set()
        self._children_handle: asyncio.TimerHandle | None = None
        # one op at a time, in queue order, by the writer or by flush(); held over one op only
        self._writing = threading.Lock()
        self._latest_lock = threading.Lock()  # a put against the writer's check of ``latest``
        self._wake = threading.Event()
        self._hurry = threading.Event()  # ends the writer's waits: the runner idles, or closes
        self._thread: threading.Thread | None = None
        self._closed = False
        self.error: OSError | None = None  # what stopped the writer (a full disk)
        self.queued_at = 0.0  # monotonic time of the last op queued (spares wait for quiet)
        # monotonic time the runner last handed a step to a worker and waited (:meth:`idle`)
        self.idle_at = 0.0
        self._fanning = 0  # fan-outs running: the loop writes, as on tmpfs (:meth:`fan_out`)

    # -- queueing ----------------------------------------------------------------------------

    def put(self, path: str, text: str) -> None:
        """Replace a small file (the last put of a path wins, written in its place in order)."""
        with self._latest_lock:
            self.version += 1
            self.latest[path] = (self.version, text)
            version = self.version
        self._queue(_PUT, path, version)

    def write(self, path: str, text: str) -> None:
        """Write a new file (parent dirs made on demand)."""
        self._queue(_WRITE, path, text)

    def share(self, path: str, text: str) -> None:
        """Write a new file whose text many steps hold alike (``name``, ``type``, ``.dflow``
        metadata): a hard link to one copy of it (:func:`layout.link_shared`)."""
        self._queue(_SHARE, path, text)

    def write_like(self, path: str, text: str, source: str) -> None:
        """Write a new file holding ``text``: a hard link to ``source`` when that holds it
        (:func:`layout.write_like`)."""
        self._queue(_LIKE, path, (text, source))

    def link(self, target: str, path: str) -> None:
        """``path`` becomes a symlink to ``target``."""
        self._queue(_LINK, target, path)

    def mkdir(self, *paths: str) -> None:
        """Make these dirs, in order (parents first)."""
        self._queue(_MKDIR, paths, None)

    def rmdir_empty(self, *paths: str) -> None:
        """Remove these dirs, in order (children first), each only if it is empty."""
        self._queue(_RMDIR, paths, None)

    def _queue(self, op: int, a: Any, b: Any) -> None:
        self.ops.append((op, a, b))
        self.queued_at = time.monotonic()
        if self._closed:
            self.flush()
            return
        if not self.threaded or self._fanning:
            if self._handle is None:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # outside the run's loop: write now
                    self.flush()
                    return
                self._handle = loop.call_later(self.DELAY, self._write_slice)
            return
        if self._thread is None:  # started inside the run's loop, closed when the run ends
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # outside the run's loop: write now
                self.flush()
                return
            self._thread = threading.Thread(target=self._writer, name="dflow-mirror", daemon=True)
            self._thread.start()
        self._wake.set()

    def idle(self) -> None:
        """The runner has handed a step to a worker and waits for it: what it queued before is
        the whole batch, and the writer need not wait for ``DELAY`` of quiet to make spares
        (in a chain a worker's step is about as long as ``DELAY``: the spares were seldom
        ready). Not while a fan-out runs: no core is idle then (:meth:`fan_out`)."""
        if self.spares is not None and self._thread is not None and not self._fanning:
            self.idle_at = time.monotonic()
            self._hurry.set()
            self._wake.set()

    @contextlib.contextmanager
    def fan_out(self) -> Iterator[None]:
        """While a fan-out runs, the event loop writes the queue, as on tmpfs.

        Its loop and its workers keep both cores busy, so the writer thread has no idle core
        to use and its GIL hand-offs with the loop cost more than the writes it takes over: a
        10,000-way fan-out on a fresh ext4 took 12.5-13.4 s with the loop writing against
        14.9-15.3 s with the thread (and 15% less CPU). A chain's steps leave a core idle:
        there the thread writes (and makes spares)."""
        self._fanning += 1
        try:
            yield
        finally:
            self._fanning -= 1

    def _waiting(self) -> bool:
        """Whether nothing was queued since the runner went idle (:meth:`idle`)."""
        return self.idle_at >= self.queued_at

    # -- writing -----------------------------------------------------------------------------

    def _writer(self) -> None:
        while True:
            self._wake.wait()
            if not self._closed and not self._waiting():
                # let the rest of the batch come (a step's end: ~10 ops), or the runner idle
                self._hurry.wait(self.DELAY)
            self._wake.clear()
            self._hurry.clear()  # (one set after this finds _waiting() true below)
            try:
                self._drain(writer=True)
                spares = self.spares
                # one spare at a time, queued writes first, and only while the loop queues
                # nothing (a worker runs the step): made beside the runner's own work, they
                # hand the GIL back and forth with it and delay it
                while spares is not None and spares.wanted() and not self.ops:
                    if self._fanning:  # no idle core: the steps make their own dirs
                        break
                    if self._closed:
                        break
                    quiet = time.monotonic() - self.queued_at
                    if quiet < self.DELAY and not self._waiting():
                        self._hurry.wait(self.DELAY - quiet)
                        self._hurry.clear()
                        continue
                    spares.make_one()
            except OSError as exc:  # a full disk: flush() (the run's end) raises it
                self.error = exc
                return
            # checked after the clear: a close() before it left the event set, one after it
            # is seen here
            if self._closed:
                return

    def _write_slice(self) -> None:
        self._handle = None
        deadline = time.monotonic() + self.SLICE
        ops = self.ops
        try:
            while ops:
                if self._thread is None:
                    self._do(*ops.popleft())
                else:  # the writer thread may be writing the op before (a fan-out began)
                    with self._writing:
                        if not ops:
                            return
                        self._do(*ops.popleft())
                if ops and time.monotonic() > deadline:  # the rest on the next turn
                    self._handle = asyncio.get_running_loop().call_soon(self._write_slice)
                    return
        except OSError as exc:  # a full disk: flush() (the run's end) raises it
            self.error = exc

    def _drain(self, writer: bool = False) -> None:
        """Write the queue in order (``writer``: the thread, which leaves it to the loop once a
        fan-out runs)."""
        ops = self.ops
        while ops:
            if writer and self._fanning:
                return
            with self._writing:
                if not ops:
                    return
                self._do(*ops.popleft())

    def flush(self) -> None:
        """Write everything queued, now (the writer's op under way first)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._drain()
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def close(self) -> None:
        """Write everything queued and stop the writer (the end of a run)."""
        self._closed = True
        self._hurry.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.spares is not None:
            self.spares.discard()
        self.flush()

    def take_spare(self, kind: str, dest: str) -> bool:
        """Move a spare dir of ``kind`` (:class:`layout.SpareDirs`) to ``dest``; False when
        there is none (the caller makes the dirs)."""
        if self.spares is None or not self.spares.take(kind, dest):
            return False
        if self._thread is not None:
            self._wake.set()  # make another while the step runs
        return True

    def _do(self, op: int, a: Any, b: Any) -> None:
        try:
            if op == _PUT:
                with self._latest_lock:
                    version, text = self.latest.get(a, (None, ""))
                    if version != b:
                        return  # a later put of the same path comes further on
                    del self.latest[a]
                # a file of its own, never a shared link: the phase is the file users and
                # tools rewrite in place
                overwrite(a, text)
            elif op == _WRITE:
                write_new(a, b)
            elif op == _LIKE:
                write_like(a, *b)
            elif op == _SHARE:
                if self.store is None:
                    write_new(a, b)
                else:
                    link_shared(self.store, a, b)
            elif op == _LINK:
                place(a, b, "symlink")
            elif op == _RMDIR:
                for path in a:
                    try:
                        os.rmdir(path)
                    except OSError:  # not empty (the step wrote there), or not there
                        pass
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
        """Write everything queued and stop the writer (the end of a run)."""
        self.close()
        self.flush_children()

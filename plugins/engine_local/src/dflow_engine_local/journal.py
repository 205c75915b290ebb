"""The run journal: one SQLite database (WAL mode) per workflow, ``<wf-dir>/journal.db``.

Only the runner process writes (from its event-loop thread); any process may read while it
runs (WAL readers never block the writer). Changes to nodes are kept in memory and written at
the next commit; commits come in groups (``flush``: every 50 ms or 32 finished steps or
slices, see :mod:`.nodes`). A node changed since the last commit is written once (a slice's
insert and its two phase changes: one row, not three statements), its events in order, so a
commit holds every change made before it. SQLite makes each commit atomic, so after a SIGKILL
the journal holds exactly the transitions committed before it: a step or slice journaled
``Succeeded`` is never run again, one journaled ``Running`` (or lost with the last group) is
run again.

A node's inputs live in a table of their own (``node_inputs``; ``nodes.inputs`` is read only
from older journals): SQLite rewrites a whole row on every UPDATE, and a phase change must not
rewrite (and leave a free copy of) a 50 MB parameter.

A write that fails (a full disk, an I/O error) rolls back the open transaction and raises
:class:`JournalError` ("no space left on device writing <path>"); every later write raises it
again, so the run stops with that reason and stays resumable from what was committed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs

DB_NAME = "journal.db"
RESERVE_NAME = "journal.reserve"
RESERVE_BYTES = 128 * 1024  # room to write "Error: no space left" once the disk is full
TERMINAL = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY,
    parent_id TEXT,
    path TEXT,
    seq INTEGER,
    name TEXT,
    display_name TEXT,
    key TEXT,
    type TEXT,
    phase TEXT,
    template TEXT,
    dir TEXT,
    inputs TEXT,
    outputs TEXT,
    started TEXT,
    finished TEXT,
    message TEXT,
    attempts INTEGER DEFAULT 0,
    pid INTEGER,
    progress TEXT,
    ord TEXT
);
CREATE INDEX IF NOT EXISTS nodes_parent ON nodes(parent_id, seq);
CREATE TABLE IF NOT EXISTS node_inputs (id TEXT PRIMARY KEY, inputs TEXT);
CREATE TABLE IF NOT EXISTS procs (pgid INTEGER PRIMARY KEY, start INTEGER, node_id TEXT);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    node_id TEXT, phase TEXT, at TEXT, message TEXT
);
"""

NODE_FIELDS = (
    "id",
    "parent_id",
    "path",
    "seq",
    "name",
    "display_name",
    "key",
    "type",
    "phase",
    "template",
    "dir",
    "inputs",
    "outputs",
    "started",
    "finished",
    "message",
    "attempts",
    "pid",
    "progress",
    "ord",
)


class JournalError(OSError):
    """The journal could not be written: the run cannot go on (its message says why)."""

    def __str__(self) -> str:
        return str(self.strerror)


def io_message(exc: BaseException, path: str | None = None) -> str:
    """What went wrong, for a user: "no space left on device writing <path>"."""
    if isinstance(exc, JournalError):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        if "full" in text:
            return f"no space left on device writing {path}"
        return f"{text} writing {path}"
    if isinstance(exc, OSError):
        where = exc.filename or path
        what = "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror or exc
        return f"{what} writing {where}" if where else str(what)
    return f"{type(exc).__name__}: {exc}"


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def now_iso() -> str:
    """UTC now as Argo writes it (``2024-05-01T10:00:00.123456Z``).

    Four per step (started, finished, two events): the date and time are formatted once
    per second (``datetime.strftime`` took 3.6 µs a call, this about 1 µs)."""
    global _second
    whole, micro = divmod(round(time.time() * 1e6), 1_000_000)  # rounded, as datetime does
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{micro:06d}Z"


@attrs.define
class Node:
    """One journaled node (a step, a task, a template node, a loop item...)."""

    id: str
    parent_id: str | None = None
    path: str = ""
    seq: int = 0
    name: str = ""
    display_name: str = ""
    key: str | None = None
    type: str = "Pod"
    phase: str = "Pending"
    template: str = ""
    dir: str | None = None
    inputs: dict = attrs.field(factory=dict)
    outputs: dict = attrs.field(factory=dict)
    started: str | None = None
    finished: str | None = None
    message: str = ""
    attempts: int = 0
    pid: int | None = None
    progress: str | None = None
    ord: str | None = None  # position in its parent's ``children`` file ("1-0", "2-0-3")

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple) -> Node:
        d = dict(zip(NODE_FIELDS, row, strict=True))
        d["inputs"] = json.loads(d["inputs"] or "{}")
        d["outputs"] = json.loads(d["outputs"] or "{}")
        d["message"] = d["message"] or ""
        d["attempts"] = d["attempts"] or 0
        return cls(**d)


def connect(path: str, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        if not os.path.exists(path):
            raise FileNotFoundError(path)
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the death of the process (not a power cut)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(nodes)")}
        if "ord" not in columns:  # a journal written before the column existed
            conn.execute("ALTER TABLE nodes ADD COLUMN ord TEXT")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Journal:
    """Writer side of a workflow's journal (one per runner process)."""

    def __init__(self, wf_dir: str) -> None:
        self.path = os.path.join(wf_dir, DB_NAME)
        self.conn = connect(self.path)
        self.broken: JournalError | None = None
        self.reserve = os.path.join(wf_dir, RESERVE_NAME)
        _make_reserve(self.reserve)
        self.cache: dict[str, Node] = {}
        # written at the next flush: nodes changed since the last one, with their changed
        # columns (None: the whole row), nodes whose inputs changed, events in order
        self._changed: dict[str, tuple[Node, set[str] | None]] = {}
        self._inputs: dict[str, Node] = {}
        self._events: list[tuple[str, str, str, str]] = []
        self.by_path: dict[str, str] = {}  # node path -> id: a resumed run finds its ids again
        for row in self.conn.execute(_select(self.conn)):
            node = Node.from_row(row)
            self.cache[node.id] = node
            self.by_path.setdefault(node.path, node.id)

    # -- transactions ---------------------------------------------------------------------

    def _x(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """Execute a write; a failure breaks the journal for good (see the module doc)."""
        return self._guarded(self.conn.execute, sql, params)

    def _xmany(self, sql: str, rows: list) -> None:
        """:meth:`_x` for many rows of one statement."""
        self._guarded(self.conn.executemany, sql, rows)

    def _guarded(self, call: Callable[[str, Any], Any], sql: str, params: Any) -> Any:
        if self.broken is not None:
            raise self.broken
        try:
            return call(sql, params)
        except sqlite3.Error as exc:
            if self.conn.in_transaction:  # SQLite may keep it: nothing of it is trusted
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            full = "full" in str(exc)
            self.broken = JournalError(
                errno.ENOSPC if full else errno.EIO, io_message(exc, self.path), self.path
            )
            raise self.broken from exc

    def _begin(self) -> None:
        # SQLite's own state, never a flag of ours: after a failed statement it may have
        # rolled the transaction back already
        if not self.conn.in_transaction:
            self._x("BEGIN IMMEDIATE")

    def flush(self) -> None:
        """Commit what changed since the last flush (one atomic transaction)."""
        if self.broken is not None:
            raise self.broken
        if self._changed or self._inputs or self._events:
            self._write_changes()
        if self.conn.in_transaction:
            self._x("COMMIT")

    def _write_changes(self) -> None:
        changed, inputs, events = self._changed, self._inputs, self._events
        self._changed, self._inputs, self._events = {}, {}, []
        self._begin()
        rows: list[tuple] = []
        partial: dict[tuple[str, ...], list[tuple]] = {}  # changed columns -> their rows
        for node, columns in changed.values():
            if columns is None:
                rows.append(_row(node))
            elif columns:
                key = tuple(sorted(columns))
                partial.setdefault(key, []).append((*(_column(node, c) for c in key), node.id))
        if rows:
            self._xmany(_UPSERT, rows)
        for key, values in partial.items():
            self._xmany(f"UPDATE nodes SET {', '.join(f'{c}=?' for c in key)} WHERE id=?", values)
        if inputs:
            self._xmany(
                "INSERT OR REPLACE INTO node_inputs(id, inputs) VALUES(?, ?)",
                [(n.id, json.dumps(n.inputs)) for n in inputs.values()],
            )
        if events:
            self._xmany(
                "INSERT INTO events(node_id, phase, at, message) VALUES(?, ?, ?, ?)", events
            )

    def close(self) -> None:
        try:
            if self.broken is None:
                self.flush()
        finally:
            self.conn.close()
            with contextlib.suppress(OSError):
                os.unlink(self.reserve)

    # -- workflow metadata ----------------------------------------------------------------

    def set_meta(self, **values: Any) -> None:
        self._begin()
        for k, v in values.items():
            self._x(
                "INSERT INTO meta(k, v) VALUES(?, ?) ON CONFLICT(k) DO UPDATE SET v=excluded.v",
                (k, json.dumps(v)),
            )

    def get_meta(self, k: str, default: Any = None) -> Any:
        return read_meta(self.conn, k, default)

    # -- nodes ----------------------------------------------------------------------------

    def get(self, node_id: str) -> Node | None:
        return self.cache.get(node_id)

    def put(self, node: Node) -> Node:
        """Insert or replace ``node`` (all fields), at the next flush."""
        if self.broken is not None:
            raise self.broken
        self.cache[node.id] = node
        self.by_path.setdefault(node.path, node.id)
        self._changed[node.id] = (node, None)
        self._inputs[node.id] = node
        return node

    def update(self, node: Node, **changes: Any) -> Node:
        """Change some fields of ``node`` (written at the next flush); a phase change is also
        recorded as an event."""
        if self.broken is not None:
            raise self.broken
        for k, v in changes.items():
            setattr(node, k, v)
        if "inputs" in changes:
            self._inputs[node.id] = node
        columns = self._changed.get(node.id, (node, set()))[1]
        if columns is not None:  # else the whole row is written already
            self._changed[node.id] = (node, {*columns, *changes} - {"inputs"})
        if "phase" in changes:
            self._events.append((node.id, node.phase, now_iso(), node.message))
        return node

    def record(self, node: Node, phase: str, message: str) -> None:
        """An event that is not a phase change of the node (a failed attempt before a retry)."""
        if self.broken is not None:
            raise self.broken
        self._events.append((node.id, phase, now_iso(), message))

    def delete_below(self, node_id: str) -> None:
        """Forget the descendants of ``node_id`` (a retried or re-expanded node)."""
        self._begin()
        stack = [node_id]
        while stack:
            current = stack.pop()
            kids = [n.id for n in self.cache.values() if n.parent_id == current]
            for k in kids:
                gone = self.cache.pop(k, None)
                self._changed.pop(k, None)
                self._inputs.pop(k, None)
                if gone is not None and self.by_path.get(gone.path) == k:
                    del self.by_path[gone.path]
                self._x("DELETE FROM nodes WHERE id=?", (k,))
                self._x("DELETE FROM node_inputs WHERE id=?", (k,))
            stack.extend(kids)

    # -- process groups a run started (a resumed run kills what is left of them) -----------

    def add_proc(self, pgid: int, start: int | None, node_id: str | None) -> None:
        self._begin()
        self._x(
            "INSERT OR REPLACE INTO procs(pgid, start, node_id) VALUES(?, ?, ?)",
            (pgid, start, node_id),
        )

    def drop_proc(self, pgid: int) -> None:
        self._begin()
        self._x("DELETE FROM procs WHERE pgid=?", (pgid,))

    def clear_procs(self) -> None:
        self._begin()
        self._x("DELETE FROM procs")

    def proc_groups(self) -> list[tuple[int, int | None]]:
        return list(self.conn.execute("SELECT pgid, start FROM procs"))


_UPSERT = (
    f"INSERT INTO nodes({', '.join(NODE_FIELDS)}) VALUES({', '.join('?' * len(NODE_FIELDS))}) "
    f"ON CONFLICT(id) DO UPDATE SET "
    + ", ".join(f"{f}=excluded.{f}" for f in NODE_FIELDS if f != "id")
)


def _column(node: Node, field: str) -> Any:
    """A node field as its ``nodes`` column holds it (inputs live in ``node_inputs``)."""
    if field == "outputs":
        return json.dumps(node.outputs)
    if field == "inputs":
        return None
    return getattr(node, field)


def _row(node: Node) -> tuple:
    return tuple(_column(node, f) for f in NODE_FIELDS)


def mark_error(wf_dir: str, message: str) -> bool:
    """Best effort, after a failed write: the run is Error with ``message``; False when even
    that cannot be written (the run shows as dead, and stays resumable)."""
    try:
        conn = sqlite3.connect(os.path.join(wf_dir, DB_NAME), timeout=5)
        try:
            with conn:
                for k, v in (("status", "Error"), ("message", message), ("finishedAt", now_iso())):
                    conn.execute(
                        "INSERT INTO meta(k, v) VALUES(?, ?) "
                        "ON CONFLICT(k) DO UPDATE SET v=excluded.v",
                        (k, json.dumps(v)),
                    )
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return True


def fail_run(wf_dir: str, journal: Journal, exc: BaseException) -> JournalError:
    """The error a run that could not write stops with; the run is marked Error with it
    when that can still be written."""
    message = io_message(exc, journal.path)
    code = exc.errno if isinstance(exc, OSError) and exc.errno else errno.EIO
    if "no space left" in message:
        code = errno.ENOSPC
    with contextlib.suppress(OSError):  # the room set aside for this very write
        os.unlink(journal.reserve)
    if mark_error(wf_dir, message):
        try:
            with open(os.path.join(wf_dir, "status"), "w") as f:
                f.write("Error")
        except OSError:
            pass
    hint = "; free some space and submit the workflow again with the same id to resume it"
    return JournalError(code, message + hint, journal.path)


def _make_reserve(path: str) -> None:
    try:
        with open(path, "wb") as f:
            f.write(bytes(RESERVE_BYTES))  # real blocks, not a sparse file
    except OSError:  # already full: nothing to set aside
        with contextlib.suppress(OSError):
            os.unlink(path)


def read_meta(conn: sqlite3.Connection, k: str, default: Any = None) -> Any:
    try:
        row = conn.execute("SELECT v FROM meta WHERE k=?", (k,)).fetchone()
    except sqlite3.OperationalError as exc:  # a journal being created: no tables yet
        if "no such table" in str(exc):
            return default
        raise
    return default if row is None else json.loads(row[0])


#: where :func:`read_rows` puts a node's fields in its rows
ROW = {f: i for i, f in enumerate(NODE_FIELDS)}


def read_rows(
    wf_dir: str, events: dict[str, list[tuple]] | None = None
) -> tuple[dict[str, Any], list[tuple]]:
    """(metadata, nodes) of a workflow, read with a read-only connection, in one snapshot.

    The nodes are rows in ``seq`` order (fields at :data:`ROW`) for :meth:`Node.from_row`: a
    query parses a node's inputs and outputs when it is read, not every node's when the
    workflow is (a 100,000-slice fan-out's 200,000 JSON texts). With ``events``, it is filled
    with the (phase, at, message) events of every retried leaf (``attempts > 1``), oldest
    first."""
    conn = connect(os.path.join(wf_dir, DB_NAME), readonly=True)
    seq, attempts = ROW["seq"], ROW["attempts"]
    try:
        conn.execute("BEGIN")  # one consistent snapshot for all tables
        meta = {k: json.loads(v) for k, v in conn.execute("SELECT k, v FROM meta")}
        # sorted here: an ORDER BY makes SQLite copy every row, 50 MB parameters included,
        # into its sorter (a 50 MB parameter cost 200 MB more at peak)
        rows = sorted(conn.execute(_select(conn)), key=lambda r: r[seq] or 0)
        if events is not None and any((r[attempts] or 0) > 1 for r in rows):
            for node_id, phase, at, message in conn.execute(
                "SELECT node_id, phase, at, message FROM events WHERE node_id IN "
                "(SELECT id FROM nodes WHERE attempts > 1) ORDER BY seq"
            ):
                events.setdefault(node_id, []).append((phase, at, message or ""))
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:  # a journal being created: no tables yet
        if "no such table" not in str(exc):
            raise
        meta, rows = {}, []
    finally:
        conn.close()
    return meta, rows


def _select(conn: sqlite3.Connection) -> str:
    """SELECT of NODE_FIELDS, inputs from their own table (NULL for a column an older journal
    does not have)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(nodes)")}
    split = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='node_inputs'"
    ).fetchone()
    cols = []
    for f in NODE_FIELDS:
        if f == "inputs" and split:
            cols.append("COALESCE(ni.inputs, nodes.inputs)")
        else:
            cols.append(f"nodes.{f}" if f in have or not have else f"NULL AS {f}")
    join = " LEFT JOIN node_inputs ni ON ni.id = nodes.id" if split else ""
    return f"SELECT {', '.join(cols)} FROM nodes{join}"


def iter_children(nodes: list[Node], parent_id: str) -> Iterator[Node]:
    for n in nodes:
        if n.parent_id == parent_id:
            yield n

"""Process control: every step's processes die with the step, as a pod's containers do.

* A script step runs in its own session; its process group is killed (SIGTERM, then SIGKILL
  after :data:`GRACE_SECONDS`) on timeout, stop, terminate and cancellation, and whatever it
  left running in the background is killed when its command exits.
* A pool worker is the leader of its own process group and a child subreaper
  (``PR_SET_CHILD_SUBREAPER``): children an OP left behind, even daemonised ones, are
  reparented to the worker, which kills and reaps them after each step (:func:`reap_children`).
  A worker killed on timeout takes its group and its descendants with it (:func:`kill_tree`).
* An executor job that runs on this machine (``Executor.runs_here``) gets the step's markers
  in its environment; when the step ends (or times out, or is stopped) every process still
  carrying them is killed, wherever it sits in the process tree (:meth:`RunProcesses.end_job`).
  Jobs on other hosts or under a scheduler never receive these markers.
* Every process a run starts carries ``DFLOW_LOCAL_RUN=<token>`` in its environment and every
  group is journaled as (pgid, leader start time). A resumed run first kills what the previous
  run left (:func:`reap_previous`), so a step is never running twice. Start times come from
  ``/proc/<pid>/stat`` so a reused pid is never mistaken for ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import time
import uuid
from collections.abc import Iterable

import attrs

from .journal import Journal, JournalError

GRACE_SECONDS = 2.0  # SIGTERM -> SIGKILL, as a pod's terminationGracePeriodSeconds (shorter)
RUN_ENV = "DFLOW_LOCAL_RUN"
STEP_ENV = "DFLOW_LOCAL_STEP"
_PR_SET_CHILD_SUBREAPER = 36
_POLL = 0.02


@attrs.frozen
class Proc:
    pid: int
    start: int  # clock ticks after boot: (pid, start) names one process for good
    state: str
    pgid: int
    sid: int


def stat(pid: int) -> Proc | None:
    """The process ``pid`` as /proc sees it; None when there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: fields start after the last ')'
    rest = data[data.rfind(b")") + 2 :].split()
    return Proc(pid, int(rest[19]), rest[0].decode(), int(rest[2]), int(rest[3]))


def start_time(pid: int) -> int | None:
    p = stat(pid)
    return None if p is None else p.start


def is_alive(pid: int, start: int | None = None) -> bool:
    """Whether ``pid`` runs (a zombie has finished) and, with ``start``, is still that one."""
    p = stat(pid)
    return p is not None and p.state not in ("Z", "X") and (start is None or p.start == start)


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def descendants(pid: int) -> list[Proc]:
    """Every process below ``pid`` (breadth first)."""
    out: list[Proc] = []
    stack = children(pid)
    while stack:
        p = stat(stack.pop())
        if p is not None:
            out.append(p)
            stack.extend(children(p.pid))
    return out


def become_subreaper() -> None:
    """Orphans of this process's descendants become its children (Linux; a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _signal(procs: Iterable[Proc], groups: Iterable[int], sig: int) -> None:
    for g in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(g, sig)
    for p in procs:
        if is_alive(p.pid, p.start):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p.pid, sig)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _reap_children() -> None:
    """Collect exited children of this process (our own; never blocks)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _gone(procs: list[Proc]) -> bool:
    return not any(is_alive(p.pid, p.start) for p in procs)


def terminate(procs: list[Proc], grace: float = GRACE_SECONDS, reap: bool = False) -> bool:
    """SIGTERM ``procs``, SIGKILL those left after ``grace`` seconds; True when SIGKILL was
    needed (something ignored SIGTERM). ``reap``: they are children of this process (a
    subreaper's orphans): collect them as they exit."""
    if not procs:
        return False
    _signal(procs, (), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if reap:
            _reap_children()
        if _gone(procs):
            return False
        time.sleep(_POLL)
    _signal(procs, (), signal.SIGKILL)
    if reap:
        while not _gone(procs) and time.monotonic() < deadline + 1:
            time.sleep(_POLL)
        _reap_children()
    return True


async def terminate_async(
    procs: list[Proc], groups: list[int], leader: int | None = None, grace: float = GRACE_SECONDS
) -> bool:
    """:func:`terminate` from the event loop, for process groups too; ``leader`` is a child
    of ours that this waits for (reaps), as are those of ``procs`` that become our children
    (orphans, when we are a subreaper). True when SIGKILL was needed."""

    def gone() -> bool:
        nonlocal leader
        if leader is not None and _waited(leader):
            leader = None
        for p in procs:
            _waited(p.pid)  # an orphan reparented to us: collect it, never block
        if groups:
            reap_orphans(groups)
        return leader is None and _gone(procs) and not any(group_alive(g) for g in groups)

    _signal(procs, groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while not gone():
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(_POLL)
    else:
        return False
    _signal(procs, groups, signal.SIGKILL)
    if leader is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(leader, signal.SIGKILL)
    for _ in range(50):  # SIGKILL is not refusable: this takes a few ms
        if gone():
            break
        await asyncio.sleep(_POLL)
    return True


def reap_orphans(groups: Iterable[int]) -> None:
    """Collect the exited members of ``groups`` reparented to us (we are a subreaper), so a
    dead member does not keep its group alive; leaders are left to whoever started them."""
    groups = set(groups)
    for pid in children(os.getpid()):
        if pid not in groups:
            p = stat(pid)
            if p is not None and p.state == "Z" and p.pgid in groups:
                _waited(pid)


def _waited(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


def reap_children(grace: float = GRACE_SECONDS) -> tuple[int, bool]:
    """Kill what this process's children left running; (how many, whether SIGKILL was needed).

    Called by a pool worker (a subreaper) after each step: cheap when there is nothing."""
    try:  # one system call for the common case: no child at all, so (a subreaper) nothing below
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return 0, False
    left = [p for p in descendants(os.getpid()) if p.state not in ("Z", "X")]
    if not left:
        _reap_children()
        return 0, False
    return len(left), terminate(left, grace, reap=True)


#: how long an environment that reads empty is read again: a process in the middle of an
#: ``execve`` has one (the new image's is not mapped yet). Measured here: 58 of 300 processes
#: read empty the moment ``subprocess.Popen`` returned; a step's daemon exec'ing as its step
#: ended escaped the step's end that way.
EXEC_WAIT = 0.2
_PF_KTHREAD = 0x00200000  # a kernel thread: no environment, ever


def carries(pid: int, *markers: bytes) -> bool:
    """Whether process ``pid``'s environment holds every one of ``markers`` (``NAME=value``).
    An environment that reads empty is read again for up to :data:`EXEC_WAIT` seconds (it
    blocks: the caller on the event loop pays that only for such a process)."""
    delay, deadline = 0.0005, 0.0
    while True:
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                data = f.read()
        except OSError:
            return False
        if data:
            env = data.split(b"\0")
            return all(m in env for m in markers)
        if not deadline:
            if _kernel_thread(pid):
                return False
            deadline = time.monotonic() + EXEC_WAIT
        elif time.monotonic() >= deadline or not is_alive(pid):
            return False  # an empty environment of its own (env -i), or gone meanwhile
        time.sleep(delay)
        delay = min(2 * delay, 0.02)


def _kernel_thread(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return True
    return bool(int(data[data.rfind(b")") + 2 :].split()[6]) & _PF_KTHREAD)


def marked(*markers: bytes) -> list[Proc]:
    """Every live process (other than us) carrying all ``markers`` in its environment, with
    the processes below it: a job's processes wherever they are in the process tree."""
    me = os.getpid()
    out: dict[int, Proc] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me or int(name) in out:
            continue
        p = stat(int(name))
        if p is None or p.state in ("Z", "X") or not carries(p.pid, *markers):
            continue
        out[p.pid] = p
        for d in descendants(p.pid):
            out.setdefault(d.pid, d)
    return [p for p in out.values() if p.state not in ("Z", "X")]


def leftovers(token: str | None, groups: Iterable[tuple[int, int | None]]) -> list[Proc]:
    """Live processes of a previous run: members of its journaled groups (when the leader,
    if still there, is the one journaled) and any process carrying its run token."""
    groups = list(groups)
    if not token and not groups:
        return []
    me = {os.getpid(), os.getppid()}
    marker = f"{RUN_ENV}={token}".encode() if token else None
    ours: dict[int, int | None] = {}
    for pgid, start in groups:
        leader = stat(pgid)
        if leader is None or start is None or leader.start == start:
            ours[pgid] = start
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in me:
            continue
        p = stat(int(name))
        if p is None or p.state in ("Z", "X"):
            continue
        in_group = False
        if p.pgid in ours:  # a member started after the journaled leader, not a reused pgid
            since = ours[p.pgid]
            in_group = since is None or p.start >= since
        if in_group or (marker is not None and carries(p.pid, marker)):
            out.append(p)
    return out


def reap_previous(
    token: str | None, groups: Iterable[tuple[int, int | None]], grace: float = GRACE_SECONDS
) -> list[Proc]:
    """Kill what a previous (crashed) run of this workflow left alive; return what it was."""
    left = leftovers(token, groups)
    if left:
        terminate(left, grace)
    return left


class RunProcesses:
    """A run's process bookkeeping (a :class:`~.pool.ProcessBook`): the run's token, put in
    the environment of everything it starts, and the journal's rows of its process groups."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.token = uuid.uuid4().hex
        self.env = {RUN_ENV: self.token}
        self.before: set[int] | None = None

    def start(self) -> None:
        """Become a subreaper for the run: what a script step daemonises (``setsid cmd &``)
        escapes its process group but is reparented to us, and killed when the step ends."""
        self.before = set(children(os.getpid()))
        become_subreaper()

    def finish(self) -> None:
        """Stop being a subreaper; collect the orphans that exited on their own meanwhile
        (children born during the run: the caller's own were there before it)."""
        if self.before is None:
            return
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        for pid in children(os.getpid()):
            p = stat(pid)
            if pid not in self.before and p is not None and p.state == "Z":
                _waited(pid)
        self.before = None

    def step_env(self, node_id: str) -> dict[str, str]:
        """Environment markers of a step's processes (inherited by all they start)."""
        return {RUN_ENV: self.token, STEP_ENV: node_id}

    async def end_step(self, node_id: str) -> tuple[int, bool]:
        """Kill the orphans a step left (reparented to us); (how many, SIGKILL needed)."""
        if self.before is None:
            return 0, False
        marks = (f"{RUN_ENV}={self.token}".encode(), f"{STEP_ENV}={node_id}".encode())
        left: list[Proc] = []
        for pid in children(os.getpid()):
            p = stat(pid)
            if p is not None and p.state not in ("Z", "X") and carries(pid, *marks):
                left.append(p)
                left.extend(descendants(pid))
        if not left:
            return 0, False
        return len(left), await terminate_async(left, [])

    async def end_job(self, node_id: str) -> tuple[int, bool]:
        """Kill what an executor job of ``node_id`` still runs on this machine: the processes
        carrying the step's markers (the executor put :meth:`step_env` in their environment),
        wherever they are in the process tree; (how many, SIGKILL needed)."""
        left = marked(f"{RUN_ENV}={self.token}".encode(), f"{STEP_ENV}={node_id}".encode())
        if not left:
            return 0, False
        return len(left), await terminate_async(left, [])

    def reap_previous(self) -> list[Proc]:
        """Kill what a previous run left alive, then take over the journal's bookkeeping."""
        left = reap_previous(self.journal.get_meta("run_token"), self.journal.proc_groups())
        self.journal.clear_procs()
        self.journal.set_meta(run_token=self.token)
        self.journal.flush()
        return left

    # a journal that cannot be written stops the run on its next transition; the groups it
    # cannot record are found again by the run token

    def add_proc(self, pgid: int, start: int | None, node_id: str | None) -> None:
        with contextlib.suppress(JournalError):
            self.journal.add_proc(pgid, start, node_id)

    def drop_proc(self, pgid: int) -> None:
        with contextlib.suppress(JournalError):
            self.journal.drop_proc(pgid)


def sigkill_note() -> str:
    """The end of a timeout message when SIGTERM was not enough."""
    return f"; it ignored SIGTERM and was killed with SIGKILL after {GRACE_SECONDS:g} s)"

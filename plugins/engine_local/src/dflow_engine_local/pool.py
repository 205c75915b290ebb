"""A warm pool of worker processes for Python OP steps.

Workers are forked once when a run starts (before the event loop runs, so the fork is taken
from a single-threaded process), and each one serves steps until the run ends: no interpreter
start and no ``import dflow`` per step. OP classes are never pickled: a request names a
template by its index in the run's template registry, which the worker inherited by fork
(OPs defined in ``__main__`` or in a test module work as well as importable ones).

A worker that dies (``os._exit``, a signal, the OOM killer) is replaced; the step it was
running fails with "worker died (exit code N) while running step 'x'". A step over its
timeout gets its worker killed (and replaced) with everything the OP started. Workers die
with the runner (PDEATHSIG). Each worker leads its own process group and is a subreaper:
what an OP leaves running is killed when the step ends (see :mod:`.procs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import traceback
from collections import deque
from multiprocessing.connection import Connection, Pipe
from typing import Any, Protocol

import attrs

from . import procs
from .layout import link_shared

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the thread that forked it exits."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: workers notice EOF on their pipe instead
        pass


class WorkerDied(RuntimeError):
    def __init__(self, exit_code: int, pid: int) -> None:
        super().__init__(f"worker died (exit code {exit_code})")
        self.exit_code = exit_code
        self.pid = pid  # its process group may hold what its OP left running


class WorkerTimeout(RuntimeError):
    def __init__(self, sigkill: bool = False) -> None:
        super().__init__("worker timed out")
        self.sigkill = sigkill  # the OP ignored SIGTERM


@attrs.define(eq=False)
class _Worker:
    pid: int
    conn: Connection
    start: int | None = None
    chunk: list[_Job] = attrs.Factory(list)  # in flight, in the order the worker runs them
    done: int = 0  # how many of ``chunk`` it has answered


@attrs.define(eq=False)
class _Job:
    request: dict[str, Any]
    timeout: float | None
    cancel: asyncio.Event | None
    fut: asyncio.Future
    sent: asyncio.Future  # set when a worker got the job (a timeout counts from then)
    worker: _Worker | None = None


class ProcessBook(Protocol):
    """Where a run journals the process groups it starts (so a resumed run can reap them)."""

    def add_proc(self, pgid: int, start: int | None, node_id: str | None) -> None: ...

    def drop_proc(self, pgid: int) -> None: ...


class WorkerPool:
    """``size`` forked workers serving :func:`serve` requests, sent in chunks.

    Requests queue up while every worker is busy; a worker that becomes idle gets the next
    ones in one message (up to ``CHUNK``, and no more than its share of the queue) and
    answers each as it finishes it, so a fan-out's slices do not wait for a round trip
    through the event loop each. A request with a timeout goes alone: its clock starts
    when its worker gets it."""

    CHUNK = 8  # slices a worker may run ahead of the journal (re-run after a SIGKILL)

    def __init__(
        self,
        size: int,
        registry: list[Any],
        close_in_child: list[int],
        book: ProcessBook | None = None,
        env: dict[str, str] | None = None,
        *,
        store: str,
    ) -> None:
        self.size = size
        self.store = store  # where a worker's ``pid`` files link to (layout.link_shared)
        self.registry = registry
        self.close_in_child = close_in_child  # fds workers must not keep (the runner lock)
        self.book = book
        self.env = env or {}  # set in every worker (the run token its OPs' children inherit)
        self.workers: list[_Worker] = []
        self.idle: deque[_Worker] = deque()
        self.pending: deque[_Job] = deque()
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        for _ in range(self.size):
            self.workers.append(self._fork())

    def _fork(self) -> _Worker:
        parent, child = Pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 0
            try:
                parent.close()
                for w in self.workers:
                    w.conn.close()
                for fd in self.close_in_child:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                # a stream another thread was writing to at the fork keeps its lock here, held
                # by a thread this process does not have: flushing it would wait forever (a
                # dead worker's replacement forks beside the run's threads, and the caller may
                # have threads of its own). The worker never touches the inherited streams;
                # these are its own between steps (a step's are _log_streams(), which an OP
                # may close).
                _LOG_STREAMS.clear()
                sys.stdout, sys.stderr = _own_stream(1), _own_stream(2)
                die_with_parent()
                os.setpgid(0, 0)  # the worker's group holds its OPs' children
                procs.become_subreaper()
                os.environ.update(self.env)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's business
                # a replacement forks while the runner's loop takes SIGTERM: the handler
                # writes to the loop's wakeup fd, which this copy shares, so a SIGTERM to the
                # worker (its kill) would read as one to the runner
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                _worker_loop(child, self.registry, self.store)
            except BaseException:
                traceback.print_exc()
                code = 70
            finally:
                os._exit(code)
        child.close()
        worker = _Worker(pid, parent, procs.start_time(pid))
        if self.book is not None:
            self.book.add_proc(pid, worker.start, None)
        return worker

    def bind(self) -> None:
        """Attach to the running event loop (call once inside it)."""
        self.loop = asyncio.get_running_loop()
        self.idle = deque(self.workers)
        for worker in self.workers:
            self._watch(worker)

    def _watch(self, worker: _Worker) -> None:
        """Read ``worker``'s answers (and its EOF) whenever they come: registered once per
        worker, not once per chunk (two ``epoll_ctl`` calls and a handle per chunk)."""
        assert self.loop is not None
        self.loop.add_reader(worker.conn.fileno(), self._readable, worker)

    def _unwatch(self, worker: _Worker) -> None:
        if self.loop is not None:
            with contextlib.suppress(ValueError, OSError):
                self.loop.remove_reader(worker.conn.fileno())

    async def run(
        self, request: dict[str, Any], timeout: float | None, cancel: asyncio.Event | None = None
    ) -> tuple:
        """Serve ``request`` on a worker; raise WorkerDied / WorkerTimeout."""
        loop = self.loop
        assert loop is not None
        job = _Job(request, timeout, cancel, loop.create_future(), loop.create_future())
        self.pending.append(job)
        self._dispatch()
        cancel_task = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
        try:
            if timeout is not None:
                await self._first(job.sent, cancel_task, None)
                if job.sent.done():
                    await self._first(job.fut, cancel_task, timeout)
            else:
                await self._first(job.fut, cancel_task, None)
        except asyncio.CancelledError:
            await self._abort(job)
            raise
        finally:
            if cancel_task is not None:
                cancel_task.cancel()
        if job.fut.done():
            died = job.fut.exception()
            if isinstance(died, WorkerDied):
                await procs.terminate_async([], [died.pid])  # its OP's orphans
                raise died
            return job.fut.result()
        sigkill = await self._abort(job)
        if cancel is not None and cancel.is_set():
            raise asyncio.CancelledError()
        raise WorkerTimeout(bool(sigkill))

    @staticmethod
    async def _first(fut: asyncio.Future, cancel: asyncio.Future | None, timeout: float | None):
        waiters = [fut] if cancel is None else [fut, cancel]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)

    def _dispatch(self) -> None:
        """Hand queued jobs to idle workers, in chunks."""
        while self.idle and self.pending:
            job = self.pending.popleft()
            if job.cancel is not None and job.cancel.is_set():
                continue  # stopped before it started: its waiter reports it
            chunk = [job]
            if job.timeout is None:
                share = -(-(len(self.pending) + 1) // max(1, len(self.workers)))
                while len(chunk) < min(self.CHUNK, share) and self.pending:
                    nxt = self.pending[0]
                    if nxt.timeout is not None:
                        break
                    self.pending.popleft()
                    if nxt.cancel is None or not nxt.cancel.is_set():
                        chunk.append(nxt)
            self._send(self.idle.popleft(), chunk)

    def _send(self, worker: _Worker, chunk: list[_Job]) -> None:
        assert self.loop is not None
        try:
            worker.conn.send([j.request for j in chunk])
        except OSError:
            for j in chunk[1:]:
                self.pending.appendleft(j)
            self._died(worker, [chunk[0]])
            return
        worker.chunk, worker.done = chunk, 0
        for j in chunk:
            j.worker = worker
            if not j.sent.done():
                j.sent.set_result(None)

    def _readable(self, worker: _Worker) -> None:
        """Answers from ``worker``, one per job of its chunk, in order; EOF: it died."""
        assert self.loop is not None
        while True:
            try:
                answer = worker.conn.recv()
            except (EOFError, OSError):
                self._died(worker, worker.chunk[worker.done :])
                return
            if worker.done >= len(worker.chunk):  # not asked (an aborted chunk's): dropped
                return
            job = worker.chunk[worker.done]
            worker.done += 1
            job.worker = None
            if not job.fut.done():
                job.fut.set_result(answer)
            if worker.done == len(worker.chunk):
                worker.chunk, worker.done = [], 0
                self.idle.append(worker)
                self._dispatch()
                return
            if not worker.conn.poll():
                return

    def _died(self, worker: _Worker, unfinished: list[_Job]) -> None:
        """``worker`` died: the job it was running fails, the jobs it had not started go
        back to the queue."""
        assert self.loop is not None
        self._unwatch(worker)
        code = self._reap(worker)
        if unfinished:
            job, rest = unfinished[0], unfinished[1:]
            job.worker = None
            if not job.fut.done():
                job.fut.set_exception(WorkerDied(code, worker.pid))
            self._requeue(rest)
        worker.chunk = []
        self._replace(worker)

    def _requeue(self, jobs: list[_Job]) -> None:
        for j in reversed(jobs):
            j.worker = None
            if not j.fut.done():
                self.pending.appendleft(j)

    async def _abort(self, job: _Job) -> bool | None:
        """Stop ``job``: out of the queue, or its worker killed (then the other jobs of its
        chunk go back to the queue). True when the kill needed SIGKILL."""
        worker = job.worker
        if worker is None:
            with contextlib.suppress(ValueError):
                self.pending.remove(job)
            return None
        assert self.loop is not None
        self._unwatch(worker)
        others = [j for j in worker.chunk[worker.done :] if j is not job]
        job.worker = None
        worker.chunk = []
        self._requeue(others)
        return await self._kill(worker)

    async def _kill(self, worker: _Worker) -> bool:
        """Kill the worker, its group and what it started (SIGTERM, then SIGKILL); True when
        SIGKILL was needed."""
        below = procs.descendants(worker.pid)
        sigkill = await procs.terminate_async(below, [worker.pid], leader=worker.pid)
        self._replace(worker)
        return sigkill

    def _reap(self, worker: _Worker) -> int:
        try:
            _, status = os.waitpid(worker.pid, 0)
            return os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            return -1

    def _replace(self, worker: _Worker) -> None:
        self._unwatch(worker)
        worker.conn.close()
        if self.book is not None:
            self.book.drop_proc(worker.pid)
        if worker in self.workers:
            self.workers.remove(worker)
        new = self._fork()
        self.workers.append(new)
        self.idle.append(new)
        if self.loop is not None:
            self._watch(new)
            # on the next turn: the requests a fan-out's failfast cancelled together with the
            # one that killed this worker leave the queue first, and so never start
            self.loop.call_soon(self._dispatch)

    def kill(self) -> list[int]:
        """SIGKILL every worker (the run's end); their pids, for :func:`reap_killed`.

        Their records leave the book now: a SIGKILL cannot be caught, and an idle worker has
        reaped its OPs' children already, so nothing of theirs can outlive it. Between the two
        calls the kernel frees each worker's copy of this process (2-4 ms) on the other core
        while the runner closes its journal."""
        pids = [w.pid for w in self.workers]
        for w in self.workers:
            self._unwatch(w)
            try:
                w.conn.close()
                os.killpg(w.pid, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
            if self.book is not None:
                self.book.drop_proc(w.pid)
        self.workers.clear()
        return pids


def reap_killed(pids: list[int]) -> None:
    """Wait for the workers :meth:`WorkerPool.kill` killed."""
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:  # reaped already (RunProcesses.finish collects zombies)
            pass


def _worker_loop(
    conn: Connection, registry: list[Any], store: str
) -> None:  # pragma: no cover - child
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        for request in chunk:  # one answer per request, as soon as it is done
            conn.send(serve(request, registry, store))


_LOG_STREAMS: list[Any] = []


def _own_stream(fd: int) -> Any:
    """A text stream on ``fd`` of this process's own; a closed ``fd`` is first opened on
    the null device (a step points fds 1 and 2 at its log, and a caller may have closed its
    output: the log's descriptor would otherwise take that number and be closed with it)."""
    try:
        os.fstat(fd)
    except OSError:
        null = os.open(os.devnull, os.O_WRONLY)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
    return open(fd, "w", buffering=1, closefd=False)


def _log_streams() -> tuple[Any, Any]:
    """Text streams on fds 1 and 2, made once per worker: each step points those fds at its
    log (``dup2``), and a stream writes to whatever its fd is (made per step, each cost a
    buffer and four system calls). Remade if an OP closed one."""
    if not _LOG_STREAMS or _LOG_STREAMS[0].closed or _LOG_STREAMS[1].closed:
        _LOG_STREAMS[:] = [open(fd, "w", closefd=False, buffering=1) for fd in (1, 2)]
    return _LOG_STREAMS[0], _LOG_STREAMS[1]


def serve(request: dict[str, Any], registry: list[Any], store: str) -> tuple:
    """Run one Python OP step in this worker; return the OPResult fields as a tuple."""
    from dflow.runner import run_op
    from dflow.runner.cache import CacheSpec

    template = registry[request["template"]]
    if request.get("pid_file"):  # the step's ``pid`` file names the process running it
        # every step of this worker holds the same text: one inode (a file of its own
        # where links cannot be made)
        link_shared(store, request["pid_file"], str(os.getpid()))
    log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    # print() goes to the log even when sys.stdout was replaced (pytest, notebooks)
    streams = (sys.stdout, sys.stderr)
    sys.stdout, sys.stderr = _log_streams()
    env_saved = {k: os.environ.get(k) for k in request["env"]}
    os.environ.update(request["env"])
    path_saved = list(sys.path)
    for p in request["sys_path"]:
        if p not in sys.path:
            sys.path.insert(0, p)
    cwd = os.getcwd()
    try:
        result = run_op(
            template.op_class,
            inputs_dir=request["inputs_dir"],
            outputs_dir=request["outputs_dir"],
            workdir=request["workdir"],
            slices=template.slices if request["slice_index"] is not None else None,
            slice_index=request["slice_index"],
            key=request["key"],
            workflow_name=request["workflow_name"],
            progress_file=request["progress_file"],
            success_tag=request["success_tag"],
            parameters_dir=request.get("parameters_dir"),
            cache=CacheSpec.from_json(request["cache"]) if request.get("cache") else None,
        )
        if result.traceback:
            sys.stderr.write(result.traceback)
        return (result.phase, result.error, result.message, result.exit_code)
    finally:
        # the step is over: what it left running dies now, as with a pod
        left, sigkill = procs.reap_children()
        if left:
            how = "SIGKILL (it ignored SIGTERM)" if sigkill else "SIGTERM"
            sys.stderr.write(f"[dflow] the step left {left} process(es) running: killed ({how})\n")
        # an OP may have replaced sys.stdout (ours holds what it wrote before) or closed it
        for stream in {id(s): s for s in (sys.stdout, sys.stderr, *_LOG_STREAMS)}.values():
            with contextlib.suppress(ValueError, OSError, AttributeError):
                stream.flush()
        sys.stdout, sys.stderr = streams
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        for k, v in env_saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        sys.path[:] = path_saved
        try:
            os.chdir(cwd)
        except OSError:
            pass

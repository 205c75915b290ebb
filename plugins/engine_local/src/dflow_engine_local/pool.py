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
import ctypes
import os
import signal
import sys
import traceback
from multiprocessing.connection import Connection, Pipe
from typing import Any, Protocol

import attrs

from . import procs

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the thread that forked it exits."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: workers notice EOF on their pipe instead
        pass


class WorkerDied(RuntimeError):
    def __init__(self, exit_code: int) -> None:
        super().__init__(f"worker died (exit code {exit_code})")
        self.exit_code = exit_code


class WorkerTimeout(RuntimeError):
    def __init__(self, sigkill: bool = False) -> None:
        super().__init__("worker timed out")
        self.sigkill = sigkill  # the OP ignored SIGTERM


@attrs.define
class _Worker:
    pid: int
    conn: Connection
    start: int | None = None


class ProcessBook(Protocol):
    """Where a run journals the process groups it starts (so a resumed run can reap them)."""

    def add_proc(self, pgid: int, start: int | None, node_id: str | None) -> None: ...

    def drop_proc(self, pgid: int) -> None: ...


class WorkerPool:
    """``size`` forked workers serving :func:`serve` requests."""

    def __init__(
        self,
        size: int,
        registry: list[Any],
        close_in_child: list[int],
        book: ProcessBook | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.size = size
        self.registry = registry
        self.close_in_child = close_in_child  # fds workers must not keep (the runner lock)
        self.book = book
        self.env = env or {}  # set in every worker (the run token its OPs' children inherit)
        self.workers: list[_Worker] = []
        self.idle: asyncio.Queue[_Worker] | None = None

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
                die_with_parent()
                os.setpgid(0, 0)  # the worker's group holds its OPs' children
                procs.become_subreaper()
                os.environ.update(self.env)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's business
                _worker_loop(child, self.registry)
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
        self.idle = asyncio.Queue()
        for w in self.workers:
            self.idle.put_nowait(w)

    async def run(
        self, request: dict[str, Any], timeout: float | None, cancel: asyncio.Event | None = None
    ) -> tuple:
        """Serve ``request`` on an idle worker; raise WorkerDied / WorkerTimeout."""
        assert self.idle is not None
        worker = await self.idle.get()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        fd = worker.conn.fileno()

        def ready() -> None:
            loop.remove_reader(fd)
            if fut.done():
                return
            try:
                fut.set_result(worker.conn.recv())
            except Exception as exc:  # EOF: the worker died
                fut.set_exception(exc)

        try:
            worker.conn.send(request)
        except OSError:
            code = self._reap(worker)
            self._replace(worker)
            raise WorkerDied(code) from None
        loop.add_reader(fd, ready)
        waiters = [fut]
        cancel_task = None
        if cancel is not None:
            cancel_task = asyncio.ensure_future(cancel.wait())
            waiters.append(cancel_task)
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            loop.remove_reader(fd)
            await self._kill(worker)
            raise
        finally:
            if cancel_task is not None:
                cancel_task.cancel()
        if fut in done:
            try:
                result = fut.result()
            except (EOFError, OSError):
                code = self._reap(worker)
                await procs.terminate_async([], [worker.pid])  # its OP's orphans
                self._replace(worker)
                raise WorkerDied(code) from None
            self.idle.put_nowait(worker)
            return result
        loop.remove_reader(fd)
        sigkill = await self._kill(worker)
        if cancel is not None and cancel.is_set():
            raise asyncio.CancelledError()
        raise WorkerTimeout(sigkill)

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
        worker.conn.close()
        if self.book is not None:
            self.book.drop_proc(worker.pid)
        if worker in self.workers:
            self.workers.remove(worker)
        new = self._fork()
        self.workers.append(new)
        assert self.idle is not None
        self.idle.put_nowait(new)

    def shutdown(self) -> None:
        # idle workers have reaped their OPs' children already: nothing is left but them
        for w in self.workers:
            try:
                w.conn.close()
                os.killpg(w.pid, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        for w in self.workers:
            try:
                os.waitpid(w.pid, 0)
            except ChildProcessError:
                pass
            if self.book is not None:
                self.book.drop_proc(w.pid)
        self.workers.clear()


def _worker_loop(conn: Connection, registry: list[Any]) -> None:  # pragma: no cover - child
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(serve(request, registry))


def serve(request: dict[str, Any], registry: list[Any]) -> tuple:
    """Run one Python OP step in this worker; return the OPResult fields as a tuple."""
    from dflow.runner import run_op
    from dflow.runner.cache import CacheSpec

    template = registry[request["template"]]
    if request.get("pid_file"):  # the step's ``pid`` file names the process running it
        with open(request["pid_file"], "w") as f:
            f.write(str(os.getpid()))
    log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    # print() goes to the log even when sys.stdout was replaced (pytest, notebooks)
    streams = (sys.stdout, sys.stderr)
    sys.stdout = open(1, "w", closefd=False, buffering=1)
    sys.stderr = open(2, "w", closefd=False, buffering=1)
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
        sys.stdout.flush()
        sys.stderr.flush()
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

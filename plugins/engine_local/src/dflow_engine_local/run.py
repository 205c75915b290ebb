"""One execution of a workflow in this process: journal, pool, event loop, control requests.

A run holds an exclusive ``flock`` on ``<wf-dir>/runner.lock`` for its lifetime: the kernel
drops it when the process dies, however it dies, so "is this workflow running?" never depends
on a pid that may have been reused. Control requests (terminate, stop, suspend, resume) from
other processes are rows in the journal's ``meta`` table, polled by the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import os
import signal
import sqlite3
import threading
from functools import partial
from typing import TYPE_CHECKING, Any

from dflow import contexts
from dflow.model.dag import DAG
from dflow.model.io import MISSING
from dflow.model.step import HookStep
from dflow.model.steps import Steps
from dflow.model.workflow import Workflow
from dflow.plugins.records import StepEvent
from dflow.python.template import PythonOPTemplate
from dflow.serialization import dump_value

from .config import Resolved
from .echo import LogEcho
from .interpreter import Walker
from .journal import Journal, Node, fail_run, now_iso
from .layout import SpareDirs, shared_store, write_status
from .mirror import Mirror, memory_backed
from .nodes import NodeBook, outputs_json
from .pool import WorkerPool, reap_killed
from .procs import RunProcesses
from .state import RunContext
from .stepfiles import restore_files
from .values import Result

if TYPE_CHECKING:
    from dflow.plugins.manager import PluginManager

LOCK_NAME = "runner.lock"
POLL_SECONDS = 0.2
#: objects in the collector's permanent generation before any run: 0, except on some CPython
#: 3.12 releases, which start with objects there (3.12.1: 375; a check for 0 never froze on
#: them). More at a run's start: the caller froze its own, and they are left as they are.
_FROZEN_AT_IMPORT = gc.get_freeze_count()


class AlreadyRunning(RuntimeError):
    pass


def acquire_lock(wf_dir: str) -> int:
    """The runner lock's fd; AlreadyRunning if another live process holds it."""
    fd = os.open(os.path.join(wf_dir, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(wf_dir) from None
    return fd


def is_running(wf_dir: str) -> bool:
    """Whether a live process runs this workflow (it holds the runner lock)."""
    path = os.path.join(wf_dir, LOCK_NAME)
    if not os.path.exists(path):
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def worker_env(procs: RunProcesses) -> dict[str, str]:
    """What every worker's environment carries: the run's token, and the credentials a step
    cache in an object store needs (never written to the workdir; docs/cache.md)."""
    from dflow.cache import cache_settings

    try:
        return {**procs.env, **cache_settings().runner_env()}
    except ValueError:  # a bad [cache] table: the steps using the cache report it
        return dict(procs.env)


def collect_templates(wf: Workflow) -> list[Any]:
    """Every template reachable from the workflow (recursion-safe), Python OPs first."""
    seen: dict[int, Any] = {}
    stack = [wf.entrypoint] + ([wf.on_exit] if wf.on_exit is not None else [])
    while stack:
        t = stack.pop()
        if t is None or id(t) in seen:
            continue
        seen[id(t)] = t
        children = []
        if isinstance(t, Steps):
            children = list(t.iter_steps())
        elif isinstance(t, DAG):
            children = list(t.tasks)
        for s in children:
            stack.append(s.template)
            for h in (s.success_hook, s.running_hook, s.failure_hook):
                if h is not None:
                    stack.append(h.template)
    return list(seen.values())


def _freeze_survivors(pid: int, phase: str, info: dict[str, int]) -> None:
    """After a full collection during a run, put its survivors out of the collector's reach.

    A fan-out keeps its slices' records alive while its steps pass through the old generation
    and die there, so CPython started a full collection about every tenth young one, each
    walking every live record: quadratic (10,000 slices: 43 ms in 2 full collections, 30,000:
    586 ms in 7; 22 and 106 ms with this). Frozen objects are still freed by their reference
    counts; only a cycle among them waits for the run's end (``unfreeze``): a 10,000-slice run
    made 62 objects of cycles that reached a full collection. Only in the runner (``pid``):
    the pool's workers, forked with the callback, run the user's OPs, whose cycles must not
    wait for the run's end."""
    if phase == "stop" and info.get("generation") == 2 and os.getpid() == pid:
        gc.freeze()


#: why a run stopped by a signal stopped (its steps' message and its own), by signal
STOPPED_BY: dict[int, str] = {
    signal.SIGINT: "interrupted (Ctrl-C); submit it again with the same id to resume it",
    signal.SIGTERM: "terminated (SIGTERM); submit it again with the same id to resume it",
}


class Run:
    """Runs ``wf`` as workflow ``wf_id`` in ``wf_dir`` (resuming what its journal holds).

    The composition root: builds the run's :class:`RunContext`, starts the pool, hands the
    entry template to the :class:`Walker`, polls control requests, runs the exit handler.
    """

    def __init__(
        self,
        wf: Workflow,
        wf_id: str,
        wf_dir: str,
        settings: Resolved,
        lock_fd: int,
        reuse: list[Any] | None = None,
    ) -> None:
        journal = Journal(wf_dir)
        threaded = not memory_backed(wf_dir)
        mirror = Mirror(threaded, SpareDirs(wf_dir) if threaded else None, shared_store(wf_dir))
        nodes = NodeBook(
            journal,
            mirror,
            wf_id,
            wf_dir,
            seq=max((n.seq for n in journal.cache.values()), default=0),
        )
        registry = [t for t in collect_templates(wf) if isinstance(t, PythonOPTemplate)]
        procs = RunProcesses(journal)
        self.ctx = RunContext(
            wf=wf,
            wf_id=wf_id,
            wf_dir=wf_dir,
            settings=settings,
            journal=journal,
            mirror=mirror,
            nodes=nodes,
            pool=(
                WorkerPool(
                    settings.pool_workers,
                    registry,
                    [lock_fd],
                    procs,
                    worker_env(procs),
                    store=shared_store(wf_dir),
                )
                if registry
                else None
            ),
            procs=procs,
            registry_index={id(t): i for i, t in enumerate(registry)},
            wf_params={k: dump_value(v) for k, v in (wf.parameters or {}).items()},
            globals=journal.get_meta("global_outputs", {"parameters": {}, "artifacts": {}}),
            context=contexts.workflow_context(wf),
            echo=LogEcho() if settings.echo_logs else None,
        )
        if journal.cache:
            restore_files(self.ctx)
        if reuse:
            from .reuse import apply_reuse

            apply_reuse(self.ctx, reuse)
        self.walker = Walker(self.ctx)
        # the run's loop and main task once it runs, and the signals that stopped it so far
        self._running: tuple[asyncio.AbstractEventLoop, asyncio.Task] | None = None
        self._stops: list[int] = []
        self._signals: list[int] = []  # the ones the run takes while it runs (see execute)

    def interrupt(self, signum: int = signal.SIGINT) -> None:
        """Ctrl-C, SIGTERM, or a notebook's interrupt (from the cell's thread): the first stops
        the run as ``terminate`` does (running steps killed and marked, the workflow Failed
        saying why, resumable with the same id), a second cancels it outright. Safe from any
        thread."""
        self._stops.append(signum)
        running = self._running
        if running is None:
            return  # _main reads them when it starts
        loop, task = running
        if len(self._stops) == 1:
            loop.call_soon_threadsafe(self.ctx.control.stop, STOPPED_BY[signum], False)
        else:
            loop.call_soon_threadsafe(task.cancel)

    def execute(self) -> str:
        """Run to the end; return the workflow phase."""
        ctx = self.ctx
        try:
            from dflow.plugins.manager import get_plugin_manager

            ctx.nodes.on_event = partial(_emit, get_plugin_manager(), ctx.wf_id)
        except Exception:  # observers are optional; a broken plugin never stops a run
            pass
        assert ctx.procs is not None
        # what exists now (the workflow, the modules) lives the whole run: out of the
        # collector's reach, a full collection no longer walks it (one took 30-60 ms, a chain
        # step's worth 10-20 times over), nor do the pool's workers, forked with it
        frozen = gc.get_freeze_count() <= _FROZEN_AT_IMPORT  # else the caller froze its own
        if frozen:
            gc.freeze()
            freezer = partial(_freeze_survivors, os.getpid())
            gc.callbacks.append(freezer)
        try:
            ctx.procs.reap_previous()  # a crashed run's steps must not run beside ours
            ctx.procs.start()
            if ctx.pool is not None:
                ctx.pool.start()
                ctx.journal.flush()
            # Ctrl-C and SIGTERM stop the run as terminate does, unless the caller handles them
            if threading.current_thread() is threading.main_thread():
                self._signals = [
                    sig
                    for sig, default in (
                        (signal.SIGINT, signal.default_int_handler),
                        (signal.SIGTERM, signal.SIG_DFL),
                    )
                    if signal.getsignal(sig) is default
                ]
            try:
                phase = asyncio.run(self._main())
            except asyncio.CancelledError:
                if not self._stops:
                    raise
                phase = "Failed"  # a second signal: stopped outright
        except (OSError, sqlite3.Error) as exc:  # a full disk, an I/O error: the run stops
            raise fail_run(ctx.wf_dir, ctx.journal, exc) from exc
        finally:
            with contextlib.suppress(OSError):  # the journal, not these files, is the record
                ctx.mirror.flush_all()
            killed = ctx.pool.kill() if ctx.pool is not None else []
            try:
                ctx.procs.finish()
                ctx.journal.close()  # its checkpoint (3-4 ms on a disk) while the workers exit
            finally:
                reap_killed(killed)
            if frozen:  # the caller's process goes on: its objects are collected again
                gc.callbacks.remove(freezer)
                gc.unfreeze()
        if self._stops:  # the run stopped as asked, cleaned up: now the caller stops too
            if self._stops[0] == signal.SIGTERM:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)  # ends as the sender expects
            raise KeyboardInterrupt
        return phase

    async def _main(self) -> str:
        ctx, control = self.ctx, self.ctx.control
        wf = ctx.wf
        if ctx.pool is not None:
            ctx.pool.bind()
        control.cancel = asyncio.Event()
        control.resumed = asyncio.Event()
        control.resumed.set()
        par = wf.parallelism
        control.wf_sem = asyncio.Semaphore(int(par)) if par else None
        control.script_sem = asyncio.Semaphore(ctx.settings.pool_workers)
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        assert task is not None
        self._running = (loop, task)
        if self._stops:  # one came before the loop ran: it found nothing to stop
            control.stop(STOPPED_BY[self._stops[0]], exit_handler=False)
        for sig in self._signals:  # SIGINT: instead of asyncio.run's, which cancels at once
            loop.add_signal_handler(sig, self.interrupt, sig)
        try:
            return await self._run_to_end()
        finally:
            for sig in self._signals:
                loop.remove_signal_handler(sig)  # back to KeyboardInterrupt and SIG_DFL

    async def _run_to_end(self) -> str:
        ctx, control = self.ctx, self.ctx.control
        wf = ctx.wf
        started = ctx.journal.get_meta("startedAt") or now_iso()
        ctx.journal.set_meta(
            status="Running", startedAt=started, finishedAt=None, pid=os.getpid(), name=wf.name
        )
        ctx.journal.flush()
        write_status(ctx.wf_dir, "Running")
        poller = asyncio.ensure_future(self._poll_control())
        try:
            phase, message = await self._run_entry()
        finally:
            poller.cancel()
        control.status = phase
        try:
            if wf.on_exit is not None and control.run_exit_handler:
                control.stopping = False
                control.cancel = asyncio.Event()  # the handler itself must not be cancelled
                control.resumed.set()
                await self._run_exit_handler()
        finally:
            if ctx.echo is not None:
                ctx.echo.close()
        ctx.nodes.settle_unfinished(message)
        ctx.journal.set_meta(status=phase, finishedAt=now_iso(), message=message)
        ctx.journal.flush()
        ctx.mirror.flush_all()
        write_status(ctx.wf_dir, phase)
        return phase

    async def _run_entry(self) -> tuple[str, str]:
        ctx = self.ctx
        entry = ctx.wf.entrypoint
        assert entry is not None  # Workflow.__init__ makes one
        params = {}
        for name, p in entry.inputs.parameters.items():
            if name in ctx.wf_params:
                params[name] = ctx.wf_params[name]
            elif p.value is not MISSING:
                params[name] = dump_value(p.value)
        root = ctx.nodes.open(
            None,
            "main",
            ctx.wf_id,
            ctx.wf_id,
            None,
            "DAG" if isinstance(entry, DAG) else "Steps",
            entry,
            node_id=ctx.wf_id,
            inputs={"parameters": {k: {"value": v, "type": None} for k, v in params.items()}},
        )
        ctx.nodes.transition(root, "Running")
        frame = self.walker.instance_frame(entry, root, "main", params, {})
        try:
            res = await self.walker.run_frame(frame)
        except Exception as exc:  # a bug or bad input deep inside: the run fails, clearly
            res = Result("Error", root.id, message=f"{type(exc).__name__}: {exc}")
        ctx.nodes.transition(root, res.phase, message=res.message, outputs=outputs_json(res))
        return res.phase, res.message

    async def _run_exit_handler(self) -> None:
        from dflow.model import context

        ctx = self.ctx
        context.push(None)
        assert ctx.wf.on_exit is not None and ctx.wf.entrypoint is not None  # checked by run()
        try:
            hook = HookStep(ctx.wf.on_exit, name="onexit")
        finally:
            context.pop(None)
        root = ctx.journal.get(ctx.wf_id)
        assert root is not None  # opened by _run_entry
        frame = self.walker.instance_frame(ctx.wf.entrypoint, root, "onexit", {}, {})
        await self.walker.run_instance(
            frame, hook, "main.onExit", f"{ctx.wf_id}.onExit", MISSING, None
        )

    async def _poll_control(self) -> None:
        journal, control = self.ctx.journal, self.ctx.control
        while True:
            await asyncio.sleep(POLL_SECONDS)
            journal.flush()
            request = journal.get_meta("control")
            if not request:
                continue
            if request in ("terminate", "stop"):
                if not control.stopping:
                    control.stop(
                        f"workflow {request}ped" if request == "stop" else "workflow terminated",
                        exit_handler=request == "stop",
                    )
                if not journal.get_meta("stopping"):
                    journal.set_meta(stopping=request)  # what terminate()/stop() wait for
            elif request == "suspend":
                control.resumed.clear()
                journal.set_meta(suspended=True)
            elif request == "resume":
                control.resumed.set()
                journal.set_meta(control=None, suspended=False)
            journal.flush()  # never hold the write lock while idle: controllers write


def _emit(pm: PluginManager, wf_id: str, node: Node) -> None:
    pm.emit_step_event(
        StepEvent(
            wf_id,
            node.id,
            node.display_name,
            node.phase,
            node.key,
            node.type,
            node.message,
            node.parent_id,
            node.progress or "",
        )
    )


def ignore_sigpipe() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

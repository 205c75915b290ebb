"""One execution of a workflow in this process: journal, pool, event loop, control requests.

A run holds an exclusive ``flock`` on ``<wf-dir>/runner.lock`` for its lifetime: the kernel
drops it when the process dies, however it dies, so "is this workflow running?" never depends
on a pid that may have been reused. Control requests (terminate, stop, suspend, resume) from
other processes are rows in the journal's ``meta`` table, polled by the run.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
from typing import Any

from dflow.model.dag import DAG
from dflow.model.io import MISSING
from dflow.model.step import HookStep
from dflow.model.steps import Steps
from dflow.plugins.records import StepEvent
from dflow.python.template import PythonOPTemplate
from dflow.serialization import dump_value

from .config import Resolved
from .interpreter import Interpreter
from .journal import Journal, now_iso
from .layout import place, write_status, write_text
from .mirror import Mirror
from .pool import WorkerPool
from .stepfiles import restore_files
from .stepio import TextCache
from .values import Result, param_type

LOCK_NAME = "runner.lock"
POLL_SECONDS = 0.2


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


def collect_templates(wf: Any) -> list[Any]:
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


class Run(Interpreter):
    """Runs ``wf`` as workflow ``wf_id`` in ``wf_dir`` (resuming what its journal holds)."""

    def __init__(
        self,
        wf: Any,
        wf_id: str,
        wf_dir: str,
        settings: Resolved,
        lock_fd: int,
        reuse: list[Any] | None = None,
    ) -> None:
        self.wf, self.wf_id, self.wf_dir, self.settings = wf, wf_id, wf_dir, settings
        self.lock_fd = lock_fd
        self.journal = Journal(wf_dir)
        self.seq = max((n.seq for n in self.journal.cache.values()), default=0)
        templates = collect_templates(wf)
        self.registry = [t for t in templates if isinstance(t, PythonOPTemplate)]
        self.registry_index = {id(t): i for i, t in enumerate(self.registry)}
        self.pool: WorkerPool | None = None
        self.globals: dict[str, dict] = self.journal.get_meta(
            "global_outputs", {"parameters": {}, "artifacts": {}}
        )
        self.stopping = False
        self.stop_message = ""
        self.run_exit_handler = True
        self._flush_scheduled = False
        self.mirror = Mirror()  # step dirs' name/type/phase/children, written off the hot path
        self.orders: dict[int, dict[int, str]] = {}  # template -> step -> "children" order
        self.op_specs: dict[int, list[str]] = {}  # template -> how its script names the OP
        self.inner_types: dict[int, dict[str, str]] = {}  # Steps/DAG -> input types it implies
        if self.journal.cache:
            restore_files(self)
        self.texts = TextCache()
        self.wf_params = {k: dump_value(v) for k, v in (wf.parameters or {}).items()}
        self.status = "Running"
        if reuse:
            from .reuse import apply_reuse

            apply_reuse(self, reuse)

    # -- helpers used by the interpreter -------------------------------------------------

    def workflow_scope(self) -> dict[str, Any]:
        return {
            "name": self.wf_id,
            "parameters": self.wf_params,
            "status": self.status,
            "outputs": {
                "parameters": {k: v["value"] for k, v in self.globals["parameters"].items()},
                "artifacts": {k: v["local_path"] for k, v in self.globals["artifacts"].items()},
            },
        }

    def dirty(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self.journal.flush()

    def emit(self, node: Any) -> None:
        if self._pm is not None:
            self._pm.emit_step_event(
                StepEvent(
                    self.wf_id,
                    node.id,
                    node.display_name,
                    node.phase,
                    node.key,
                    node.type,
                    node.message,
                )
            )

    def publish_globals(self, tmpl: Any, res: Result) -> None:
        """Global outputs: journaled, and linked as ``<wf>/outputs/{parameters,artifacts}/<g>``
        to the producing step's ``outputs/`` entry (a file of their own when no step dir
        holds them: the workflow's own template)."""
        node = self.journal.get(res.node_id) if res.node_id else None
        step_dir = os.path.join(self.wf_dir, node.dir) if node is not None and node.dir else None
        changed = False
        for name, p in tmpl.outputs.parameters.items():
            g = getattr(p, "global_name", None)
            if g and name in res.params:
                self.globals["parameters"][g] = {
                    "value": res.params[name],
                    "type": res.types.get(name) or param_type(p),
                }
                path = os.path.join(self.wf_dir, "outputs", "parameters", g)
                if step_dir is not None:
                    place(os.path.join(step_dir, "outputs", "parameters", name), path, "symlink")
                else:
                    write_text(path, res.params[name])
                changed = True
        for name, a in tmpl.outputs.artifacts.items():
            g = getattr(a, "global_name", None)
            if g and res.arts.get(name):
                self.globals["artifacts"][g] = {"local_path": res.arts[name]}
                target = (
                    os.path.join(step_dir, "outputs", "artifacts", name)
                    if step_dir is not None
                    else res.arts[name]
                )
                place(target, os.path.join(self.wf_dir, "outputs", "artifacts", g), "symlink")
                changed = True
        if changed:
            self.journal.set_meta(global_outputs=self.globals)

    # -- the run ---------------------------------------------------------------------------

    def execute(self) -> str:
        """Run to the end; return the workflow phase."""
        try:
            from dflow.plugins.manager import get_plugin_manager

            self._pm = get_plugin_manager()
        except Exception:  # observers are optional; a broken plugin never stops a run
            self._pm = None
        if self.registry:
            self.pool = WorkerPool(self.settings.pool_workers, self.registry, [self.lock_fd])
            self.pool.start()
        try:
            return asyncio.run(self._main())
        finally:
            self.mirror.flush_all()
            if self.pool is not None:
                self.pool.shutdown()
            self.journal.close()

    async def _main(self) -> str:
        if self.pool is not None:
            self.pool.bind()
        self.cancel = asyncio.Event()
        self.resumed = asyncio.Event()
        self.resumed.set()
        par = self.wf.parallelism
        self.wf_sem = asyncio.Semaphore(int(par)) if par else None
        self.script_sem = asyncio.Semaphore(self.settings.pool_workers)
        started = self.journal.get_meta("startedAt") or now_iso()
        self.journal.set_meta(
            status="Running", startedAt=started, finishedAt=None, pid=os.getpid(), name=self.wf.name
        )
        self.journal.flush()
        write_status(self.wf_dir, "Running")
        poller = asyncio.ensure_future(self._poll_control())
        try:
            phase, message = await self._run_entry()
        finally:
            poller.cancel()
        self.status = phase
        if self.wf.on_exit is not None and self.run_exit_handler:
            self.stopping = False
            self.cancel = asyncio.Event()  # the handler itself must not be cancelled
            self.resumed.set()
            await self._run_exit_handler()
        self.settle_unfinished(message)
        self.journal.set_meta(status=phase, finishedAt=now_iso(), message=message)
        self.journal.flush()
        self.mirror.flush_all()
        write_status(self.wf_dir, phase)
        return phase

    async def _run_entry(self) -> tuple[str, str]:
        entry = self.wf.entrypoint
        params = {}
        for name, p in entry.inputs.parameters.items():
            if name in self.wf_params:
                params[name] = self.wf_params[name]
            elif p.value is not MISSING:
                params[name] = dump_value(p.value)
        root = self.open_node(
            None,
            "main",
            self.wf_id,
            self.wf_id,
            None,
            "DAG" if isinstance(entry, DAG) else "Steps",
            entry,
            node_id=self.wf_id,
            inputs={"parameters": {k: {"value": v, "type": None} for k, v in params.items()}},
        )
        self.transition(root, "Running")
        frame = self.instance_frame(entry, root, "main", params, {})
        try:
            res = await self.run_frame(frame)
        except Exception as exc:  # a bug or bad input deep inside: the run fails, clearly
            res = Result("Error", root.id, message=f"{type(exc).__name__}: {exc}")
        self.transition(root, res.phase, message=res.message, outputs=self.outputs_json(res))
        return res.phase, res.message

    async def _run_exit_handler(self) -> None:
        from dflow.model import context

        context.push(None)
        try:
            hook = HookStep(self.wf.on_exit, name="onexit")
        finally:
            context.pop(None)
        root = self.journal.get(self.wf_id)
        frame = self.instance_frame(self.wf.entrypoint, root, "onexit", {}, {})
        await self.run_instance(frame, hook, "main.onExit", f"{self.wf_id}.onExit", MISSING, None)

    async def _poll_control(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            self.journal.flush()
            request = self.journal.get_meta("control")
            if not request:
                continue
            if request in ("terminate", "stop"):
                if not self.stopping:
                    self.stopping = True
                    self.run_exit_handler = request == "stop"
                    self.stop_message = (
                        f"workflow {request}ped" if request == "stop" else "workflow terminated"
                    )
                    self.cancel.set()
                    self.resumed.set()
            elif request == "suspend":
                self.resumed.clear()
                self.journal.set_meta(suspended=True)
            elif request == "resume":
                self.resumed.set()
                self.journal.set_meta(control=None, suspended=False)
            self.journal.flush()  # never hold the write lock while idle: controllers write


def ignore_sigpipe() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

"""``LocalEngine``: submit, query and control workflows on this machine.

``submit`` runs the workflow in the calling process (synchronously, like pydflow's debug mode)
or, with ``wait=False`` / ``config["detach"]``, in a forked background process whose output
goes to ``<wf-dir>/log.txt``. Submitting a workflow whose id already has a journal resumes it:
nodes journaled ``Succeeded`` are not run again. Any process can query or control a workflow
by id (``Workflow(id=...)``) as long as it uses the same ``debug_workdir``.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import os
import shutil
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from dflow.engine import Engine, EngineError
from dflow.model.op_template import randstr

from .config import LocalEngineConfig, Resolved, resolve
from .journal import DB_NAME, connect, read_meta
from .layout import write_status, write_text
from .query import build_workflow, global_outputs
from .relaunch import launch_record, pinned_id, relaunch, save_launch
from .run import AlreadyRunning, Run, acquire_lock, is_running

ACK_TIMEOUT = 10.0  # seconds suspend/resume/terminate/stop wait for the runner to apply them

KEEP_DEFINITIONS = 16  # definitions kept for retry/resubmit beyond those the caller holds


class LocalEngine(Engine):
    """The embedded engine (``engine = "local"``; pydflow's ``mode = "debug"``)."""

    name = "local"

    def __init__(self, config: LocalEngineConfig | None = None) -> None:
        self.config = config or LocalEngineConfig()
        # id -> Workflow submitted from this process (retry and resubmit need it): the most
        # recent ones, and any other the caller still holds; never all of them
        self._recent: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._held: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()

    def _remember(self, wf_id: str, workflow: Any) -> None:
        self._recent[wf_id] = workflow
        self._recent.move_to_end(wf_id)
        while len(self._recent) > KEEP_DEFINITIONS:
            self._recent.popitem(last=False)
        self._held[wf_id] = workflow

    def _known(self, wf_id: str) -> Any:
        """The definition of ``wf_id`` if this process still has it, else None."""
        return self._recent.get(wf_id) or self._held.get(wf_id)

    def _forget_definition(self, wf_id: str) -> None:
        self._recent.pop(wf_id, None)
        self._held.pop(wf_id, None)

    # -- paths ------------------------------------------------------------------------------

    def settings(self) -> Resolved:
        return resolve(self.config)

    def wf_dir(self, workflow_id: str, must_exist: bool = True) -> str:
        path = os.path.join(self.settings().workdir, workflow_id)
        if must_exist and not os.path.exists(os.path.join(path, DB_NAME)):
            raise EngineError(
                f"no local workflow '{workflow_id}' under {self.settings().workdir}: check the "
                "id and that config['debug_workdir'] is the one used when it was submitted"
            )
        return path

    # -- submit -----------------------------------------------------------------------------

    def submit(
        self, workflow: Any, *, reuse_step: Sequence[Any] | None = None, wait: bool | None = None
    ) -> Any:
        settings = self.settings()
        if settings.debug_s3:
            _check_object_store()
        from dflow.contexts import render_workflow

        given = workflow
        workflow = render_workflow(workflow)  # its script templates: state.leaf_template
        wf_id = workflow.id or pinned_id(workflow.name) or f"{workflow.name}-{randstr(5)}"
        wf_dir = os.path.join(settings.workdir, wf_id)
        os.makedirs(wf_dir, exist_ok=True)
        if not reuse_step and _finished_ok(wf_dir):
            workflow.id = given.id = wf_id
            self._remember(wf_id, given)
            print(f"Workflow {wf_id} has already succeeded; nothing to run", file=sys.stderr)
            return self.query(wf_id)
        try:
            lock_fd = acquire_lock(wf_dir)
        except AlreadyRunning:
            raise EngineError(
                f"workflow '{wf_id}' is already running in another process; wait for it "
                "(Workflow(id=...).wait()) or terminate it first"
            ) from None
        # a new run starts with no pending request (a stale "terminate" must not stop it)
        conn = connect(os.path.join(wf_dir, DB_NAME))
        conn.execute("DELETE FROM meta WHERE k IN ('control', 'suspended', 'stopping')")
        conn.close()
        save_launch(wf_dir, launch_record(workflow))  # so `dflow retry ID` can run it again
        workflow.id = given.id = wf_id
        workflow.uid = given.uid = workflow.uid or wf_id
        self._remember(wf_id, given)  # the caller's object: retry renders it again
        write_text(os.path.join(wf_dir, "type"), type(workflow.entrypoint).__name__)
        background = wait is False or (wait is None and settings.detach)
        if background:
            self._fork_run(workflow, wf_id, wf_dir, settings, lock_fd, reuse_step)
            return self.query(wf_id)
        try:
            self._run(workflow, wf_id, wf_dir, settings, lock_fd, reuse_step)
        finally:
            os.close(lock_fd)
        return self.query(wf_id)

    def _run(
        self, workflow: Any, wf_id: str, wf_dir: str, settings: Resolved, lock_fd: int, reuse: Any
    ) -> str:
        write_text(os.path.join(wf_dir, "pid"), str(os.getpid()))
        run = Run(workflow, wf_id, wf_dir, settings, lock_fd, list(reuse or []))
        if not _in_event_loop():
            return run.execute()
        # called from inside an event loop (a notebook): run on a thread of our own
        box: list[Any] = []
        done = threading.Event()  # not Thread.join: an interrupted join() marks a live
        # thread stopped on 3.11 (threading._wait_for_tstate_lock releases its lock)

        def execute() -> None:
            try:
                box.append(run.execute())
            except BaseException as exc:  # raised again in the caller's thread below
                box.append(exc)
            finally:
                done.set()

        threading.Thread(target=execute, name=f"dflow run {wf_id}").start()
        while not done.is_set():
            try:
                done.wait()
            except KeyboardInterrupt:
                # the kernel's interrupt reaches this thread, not the run's: the run stops as
                # Ctrl-C stops a script's (a second one outright), and raises it once stopped
                run.interrupt()
        if isinstance(box[0], BaseException):
            raise box[0]
        return str(box[0])

    def _fork_run(
        self, workflow: Any, wf_id: str, wf_dir: str, settings: Resolved, lock_fd: int, reuse: Any
    ) -> None:
        # the journal must exist before the parent returns, so queries work at once
        conn = connect(os.path.join(wf_dir, DB_NAME))
        conn.execute(
            "INSERT INTO meta(k, v) VALUES('status', '\"Running\"') "
            "ON CONFLICT(k) DO UPDATE SET v=excluded.v"
        )
        conn.close()
        write_status(wf_dir, "Running")
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the background runner
            code = 0
            try:
                os.setsid()
                if os.fork() != 0:
                    os._exit(0)  # the grandchild runs; the parent reaps this child at once
                log = os.open(
                    os.path.join(wf_dir, "log.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
                )
                os.dup2(log, 1)
                os.dup2(log, 2)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                # drop every other inherited descriptor (the caller's pipes, sockets, capture
                # files): a background run must never keep its parent's output open
                sys.stdout = open(1, "w", buffering=1, closefd=False)
                sys.stderr = open(2, "w", buffering=1, closefd=False)
                os.closerange(3, lock_fd)
                os.closerange(lock_fd + 1, os.sysconf("SC_OPEN_MAX"))
                # no console to echo the steps' output to: the workflow's log.txt would
                # repeat every step's own log (``dflow logs`` shows both)
                quiet = attrs.evolve(settings, echo_logs=False)
                phase = self._run(workflow, wf_id, wf_dir, quiet, lock_fd, reuse)
                code = 0 if phase == "Succeeded" else 1
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 70
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.waitpid(pid, 0)
        os.close(lock_fd)

    # -- queries ----------------------------------------------------------------------------

    def query(self, workflow_id: str) -> Any:
        wf = build_workflow(
            workflow_id, self.wf_dir(workflow_id), retry_nodes=self.settings().retry_nodes
        )
        wf.set_engine(self)
        return wf

    def query_status(self, workflow_id: str) -> str:
        from .query import workflow_phase

        wf_dir = self.wf_dir(workflow_id)
        conn = connect(os.path.join(wf_dir, DB_NAME), readonly=True)
        try:
            meta = {"status": read_meta(conn, "status"), "message": read_meta(conn, "message")}
        finally:
            conn.close()
        return workflow_phase(meta, wf_dir)[0]

    def query_global_outputs(self, workflow_id: str) -> Any:
        return global_outputs(self.wf_dir(workflow_id))

    def wait(self, workflow_id: str, interval: float = 1) -> str:
        """Poll until the workflow finishes. While another process runs it, each poll's phase
        changes become ``dflow_step_event`` events, as on the Argo engine."""
        from dflow.events import PhaseTracker, emit

        tracker = PhaseTracker(workflow_id)
        while True:
            phase = self.query_status(workflow_id)
            if phase not in ("Pending", "Running"):
                if tracker.phases:  # close what was reported open
                    emit(tracker.changes(self.query(workflow_id).get_step()))
                return phase
            emit(tracker.changes(self.query(workflow_id).get_step()))
            time.sleep(min(interval, 0.5))

    def location(self, workflow_id: str) -> str:
        """The workflow's directory (steps' inputs, outputs and logs)."""
        return os.path.join(self.settings().workdir, workflow_id)

    def logs(self, workflow_id: str, step_id: str | None = None) -> str:
        wf_dir = self.wf_dir(workflow_id)
        path = (
            os.path.join(wf_dir, step_id, "log.txt") if step_id else os.path.join(wf_dir, "log.txt")
        )
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    # -- control ----------------------------------------------------------------------------

    def _request(self, workflow_id: str, action: str) -> bool:
        """Ask the live runner to act; False when no process runs the workflow."""
        wf_dir = self.wf_dir(workflow_id)
        if not is_running(wf_dir):
            return False
        conn = connect(os.path.join(wf_dir, DB_NAME))
        try:
            conn.execute(
                "INSERT INTO meta(k, v) VALUES('control', ?) "
                "ON CONFLICT(k) DO UPDATE SET v=excluded.v",
                (f'"{action}"',),
            )
        finally:
            conn.close()
        return True

    def _mark_failed(self, workflow_id: str, message: str) -> None:
        wf_dir = self.wf_dir(workflow_id)
        conn = connect(os.path.join(wf_dir, DB_NAME))
        try:
            status = read_meta(conn, "status")
            if status in (None, "Pending", "Running"):
                for k, v in (("status", "Failed"), ("message", message)):
                    conn.execute(
                        "INSERT INTO meta(k, v) VALUES(?, ?) ON CONFLICT(k) DO UPDATE "
                        "SET v=excluded.v",
                        (k, f'"{v}"'),
                    )
                write_status(wf_dir, "Failed")
        finally:
            conn.close()

    def terminate(self, workflow_id: str) -> None:
        """Terminate the run; when this returns, no further step starts."""
        if not self._request(workflow_id, "terminate"):
            self._mark_failed(workflow_id, "workflow terminated")
            return
        self._await_acknowledged(workflow_id, lambda conn: bool(read_meta(conn, "stopping")))

    def stop(self, workflow_id: str) -> None:
        """Stop the run (its exit handler still runs); when this returns, no further step of
        the workflow starts."""
        if not self._request(workflow_id, "stop"):
            self._mark_failed(workflow_id, "workflow stopped")
            return
        self._await_acknowledged(workflow_id, lambda conn: bool(read_meta(conn, "stopping")))

    def suspend(self, workflow_id: str) -> None:
        """Suspend the run; when this returns, no further step starts until :meth:`resume`."""
        if not self._request(workflow_id, "suspend"):
            raise EngineError(f"workflow '{workflow_id}' is not running: nothing to suspend")
        self._await_acknowledged(workflow_id, lambda conn: bool(read_meta(conn, "suspended")))

    def resume(self, workflow_id: str) -> None:
        if not self._request(workflow_id, "resume"):
            raise EngineError(
                f"workflow '{workflow_id}' is not running: submit it again (same id) to "
                "resume a stopped or killed run"
            )
        self._await_acknowledged(workflow_id, lambda conn: not read_meta(conn, "suspended", False))

    def _await_acknowledged(self, workflow_id: str, applied: Callable[[Any], bool]) -> None:
        """Wait until the runner has applied a control request (it polls for them): until
        ``applied(journal connection)``.

        Without this a step could still start after ``suspend()`` or ``terminate()`` returned
        (a terminated run could even end Succeeded): the request was only recorded, and the
        runner's next poll can come after the running step ended. Gives up quietly after
        ACK_TIMEOUT seconds or when the run ends; the request stays recorded and is applied at
        the runner's next poll.
        """
        wf_dir = self.wf_dir(workflow_id)
        deadline = time.monotonic() + ACK_TIMEOUT
        while time.monotonic() < deadline and is_running(wf_dir):
            conn = connect(os.path.join(wf_dir, DB_NAME))
            try:
                if applied(conn):
                    return
            finally:
                conn.close()
            time.sleep(0.02)

    def _definition(self, workflow_id: str, what: str) -> Any:
        wf = self._known(workflow_id)
        if wf is None:
            raise EngineError(
                f"cannot {what} workflow '{workflow_id}' from this process: the local engine "
                "needs the workflow's definition (it keeps those of its "
                f"{KEEP_DEFINITIONS} latest submissions and of the workflows still in use); "
                f"build it again and call Workflow(..., id='{workflow_id}').submit() to resume it"
            )
        return wf

    def retry(self, workflow_id: str, step_ids: Sequence[str] | None = None) -> None:
        """Run the failed steps again (and ``step_ids``); from another process than the one
        that submitted it, by running its script again (see :mod:`.relaunch`)."""
        wf = self._known(workflow_id)
        if is_running(self.wf_dir(workflow_id)):
            raise EngineError(f"workflow '{workflow_id}' is still running; wait for it first")
        if step_ids:
            self._forget(workflow_id, step_ids)
        if wf is None:
            relaunch(self.wf_dir(workflow_id), workflow_id, "retry")
            return
        self.submit(wf)

    def _forget(self, workflow_id: str, step_ids: Sequence[str]) -> None:
        conn = sqlite3.connect(os.path.join(self.wf_dir(workflow_id), DB_NAME))
        try:
            with conn:
                for sid in step_ids:
                    conn.execute("UPDATE nodes SET phase='Failed' WHERE id=?", (sid,))
        finally:
            conn.close()

    def resubmit(self, workflow_id: str) -> None:
        if self._known(workflow_id) is None:
            relaunch(self.wf_dir(workflow_id), workflow_id, "resubmit")
            return
        wf = copy.copy(self._definition(workflow_id, "resubmit"))
        wf.id = None
        wf.uid = None
        self.submit(wf)

    def delete(self, workflow_id: str) -> None:
        wf_dir = self.wf_dir(workflow_id)
        if self._request(workflow_id, "terminate"):
            deadline = time.monotonic() + 30
            while is_running(wf_dir) and time.monotonic() < deadline:
                time.sleep(0.05)
        shutil.rmtree(wf_dir, ignore_errors=True)
        self._forget_definition(workflow_id)

    def query_workflows(self, labels: dict[str, str] | None = None) -> list[Any]:
        root = self.settings().workdir
        out = []
        for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            if os.path.exists(os.path.join(root, name, DB_NAME)):
                out.append(self.query(name))
        return out


def _check_object_store() -> None:
    """``debug_s3`` needs a real object store: refuse the local one before anything runs."""
    from dflow.backends import get_storage_client

    client = get_storage_client()
    if client.capabilities.local_files:
        raise EngineError(
            "config['debug_s3'] is True but the artifact storage is the local directory store: "
            'select an object store (storage = "minio" and a [storages.minio] section in '
            "dflow.toml, or s3_config['storage_client']) or set debug_s3 to False"
        )


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _finished_ok(wf_dir: str) -> bool:
    path = os.path.join(wf_dir, DB_NAME)
    if not os.path.exists(path):
        return False
    conn = connect(path, readonly=True)
    try:
        return read_meta(conn, "status") == "Succeeded"
    finally:
        conn.close()

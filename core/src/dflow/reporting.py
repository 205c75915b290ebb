"""What a user sees of a run: where it is, how it progresses, and why it failed.

``Workflow.submit()`` and ``Workflow.wait()`` run inside a :class:`Session`: it says which
workflow started and where to look (the local directory, the Argo UI page), shows live progress
(:mod:`dflow.progress`) from the ``dflow_step_event`` stream, and when the workflow ends
Failed or Error, names the failing steps with their message, the last lines of their log and the
command that shows more. Messages go to stderr through the ``dflow.run`` logger (a rich handler
on a terminal, plain lines otherwise); ``config["quiet"]`` keeps only failures.
``config["raise_on_failure"]`` (or ``Workflow(raise_on_failure=True)``) makes a failed run raise
:class:`WorkflowFailed`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .plugins import hookimpl
from .plugins.records import StepEvent

if TYPE_CHECKING:
    from .engine import Engine

LOGGER = "dflow.run"
RUNNING = ("Pending", "Running", None, "")
FAILED = ("Failed", "Error")
LOG_LINES = 10
SHOWN_STEPS = 3


@attrs.frozen
class FailedStep:
    """A step that made a workflow fail: what the user needs to start looking."""

    name: str
    id: str
    phase: str
    message: str
    log_tail: tuple[str, ...] = ()


class WorkflowFailed(RuntimeError):
    """A workflow ended Failed or Error (raised only with ``raise_on_failure``).

    ``steps`` are the failing steps (:class:`FailedStep`), deepest first.
    """

    def __init__(self, workflow_id: str, phase: str, message: str, steps: Sequence[FailedStep]):
        self.workflow_id, self.phase, self.steps = workflow_id, phase, list(steps)
        self.message = message
        super().__init__(failure_text(workflow_id, phase, message, self.steps, with_logs=False))


# -- output ------------------------------------------------------------------------------------

_console: Any = None


def console() -> Any:
    """The rich console on stderr that log lines and the live view share."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True)
    return _console


class _Stderr(logging.Handler):
    """Plain lines on whatever ``sys.stderr`` is at the time (captures replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # a closed stream must not fail the run
            self.handleError(record)


def logger() -> logging.Logger:
    """The ``dflow.run`` logger, with its handler (rich on a terminal) on first use.

    It does not propagate: a script that configures logging still sees each message once.
    """
    log = logging.getLogger(LOGGER)
    if not log.handlers:
        if is_terminal():
            from rich.logging import RichHandler

            handler: logging.Handler = RichHandler(
                console=console(), show_time=False, show_path=False, markup=False
            )
        else:
            handler = _Stderr()
            handler.setFormatter(logging.Formatter("dflow: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    from .config import config

    log.setLevel(logging.WARNING if config.get("quiet") else logging.INFO)
    return log


def is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


# -- failures ----------------------------------------------------------------------------------


def _tail(text: str, n: int = LOG_LINES) -> tuple[str, ...]:
    lines = [line.rstrip() for line in (text or "").splitlines() if line.strip()]
    return tuple(lines[-n:])


def _get(step: Any, name: str) -> Any:
    return step.get(name) if isinstance(step, dict) else getattr(step, name, None)


def failing_steps(engine: Engine, workflow_id: str, logs: bool = True) -> list[FailedStep]:
    """The steps that failed: leaves (pods, scripts) in Failed/Error, else the failed groups."""
    steps = engine.query_step(workflow_id)
    bad = [
        s
        for s in steps
        if _get(s, "phase") in FAILED and _get(s, "type") not in ("StepGroup", "TaskGroup")
    ]
    leaves = [s for s in bad if not (_get(s, "children") or [])] or bad[-1:]
    out = []
    for i, s in enumerate(leaves):
        step_id = _get(s, "id")
        tail: tuple[str, ...] = ()
        if logs and i < SHOWN_STEPS:
            try:
                tail = _tail(engine.logs(workflow_id, step_id))
            except Exception:  # a log we cannot fetch must not hide the failure itself
                tail = ()
        name = _get(s, "displayName") or _get(s, "name") or step_id
        message = _get(s, "message") or ""
        out.append(FailedStep(name, step_id, _get(s, "phase"), message, tail))
    return out


def failure_text(
    workflow_id: str,
    phase: str,
    message: str,
    steps: Sequence[FailedStep],
    with_logs: bool = True,
) -> str:
    """The loud report of a failed workflow (also the text of :class:`WorkflowFailed`)."""
    message = headline(message)
    lines = [f"workflow {workflow_id} {phase}" + (f": {message}" if message else "")]
    for step in steps[:SHOWN_STEPS]:
        said = headline(step.message) if with_logs and step.log_tail else step.message
        lines.append(f"  step {step.name} ({step.id}) {step.phase}: {said or '-'}")
        if with_logs and step.log_tail:
            lines.append(f"    last {len(step.log_tail)} lines of its log:")
            lines += [f"    | {line}" for line in step.log_tail]
        lines.append(f"    more: dflow logs {workflow_id} {step.id}")
    if len(steps) > SHOWN_STEPS:
        lines.append(
            f"  ... and {len(steps) - SHOWN_STEPS} more failed steps: dflow get {workflow_id}"
        )
    return "\n".join(lines)


_LOG_TAIL = "; log tail:\n"


def with_log_tail(message: str, tail: str) -> str:
    """A failed step's message carrying its log's last lines (``tail``; none: unchanged)."""
    return message + (f"{_LOG_TAIL}{tail}" if tail else "")


def headline(message: str) -> str:
    """``message`` without the log lines :func:`with_log_tail` added: the report shows the
    failing steps' logs under them (a workflow's message repeats its first failed step's)."""
    return message.split(_LOG_TAIL, 1)[0] if message else message


def workflow_message(engine: Engine, workflow_id: str) -> str:
    try:
        status = engine.query(workflow_id).get("status") or {}
    except Exception:
        return ""
    return status.get("message") or ""


# -- the session around submit()/wait() --------------------------------------------------------


class Session:
    """Announces, shows progress and reports the outcome of one submit() or wait() call."""

    def __init__(self, engine: Engine, workflow_id: str | None, raise_on_failure: bool) -> None:
        self.engine, self.workflow_id = engine, workflow_id
        self.raise_on_failure = raise_on_failure
        self.announced = False
        self.started = time.monotonic()
        self.pid = os.getpid()
        self.view: Any = None
        self._label: str | None = None

    # -- the step-event observer (registered with the plugin manager while running) --

    @hookimpl
    def dflow_step_event(self, event: StepEvent) -> None:
        if os.getpid() != self.pid:  # a background run forked while the session was open
            return
        if self.workflow_id is None and event.parent_id is None:
            self.workflow_id = event.workflow_id
        if event.workflow_id != self.workflow_id:
            return
        if not self.announced and event.parent_id is None:
            self.announce(event.workflow_id, running=True)
        if self.view is not None:
            self.view.model.apply(event)
            # drawn from the first event on, never before: the local engine forks its workers
            # (and a detached runner) first, and a fork while the drawing thread holds the
            # console's lock leaves that lock held forever in the child (Python 3.12+ warns
            # of any fork with threads running); start() does nothing once started
            self.view.start()

    def __enter__(self) -> Session:
        from .config import config
        from .plugins.manager import get_plugin_manager

        if not config.get("quiet"):
            from .progress import LiveView, ProgressModel

            mode = "rich" if is_terminal() else "plain"
            interval = float(config.get("progress_interval") or 10)
            self.view = LiveView(ProgressModel(self.workflow_id), mode, interval)
        pm = get_plugin_manager()
        pm.load()
        self._label = pm.register(self, f"dflow-session-{id(self)}")
        return self

    def __exit__(self, *exc: Any) -> None:
        from .plugins.manager import get_plugin_manager

        if self._label is not None:
            get_plugin_manager().unregister(self._label)
        if self.view is not None:
            self.view.stop()

    # -- messages --

    def announce(self, workflow_id: str, running: bool = False) -> None:
        self.announced = True
        where = self.engine.location(workflow_id)
        verb = "running" if running else "submitted"
        text = f"workflow {workflow_id} {verb} on the {self.engine.name} engine"
        logger().info(text + (f": {where}" if where else ""))

    def finish(self, workflow_id: str, phase: str | None) -> None:
        """Say how the workflow ended (or that it runs on); raise if asked to on failure."""
        self.workflow_id = workflow_id
        if not self.announced:
            self.announce(workflow_id)
        if phase in RUNNING:
            return
        if phase not in FAILED:
            spent = time.monotonic() - self.started
            logger().info(f"workflow {workflow_id} {phase} ({spent:.1f} s)")
            return
        message = workflow_message(self.engine, workflow_id)
        steps = failing_steps(self.engine, workflow_id)
        logger().error(failure_text(workflow_id, phase, message, steps))
        if self.raise_on_failure:
            raise WorkflowFailed(workflow_id, phase, message, steps)

"""Executor jobs from the local engine: their threads, cancellation, and merged fan-outs.

Every job an executor runs (a script step, or a Python OP step as ``python -m dflow.runner``)
goes through :func:`run_job`. The executor's blocking ``run`` works in a thread of its own;
the engine watches the workflow's cancel event and the step's timeout meanwhile, and sets
``job.cancelled`` when either fires, so the executor cancels the scheduler job (``scancel``)
and returns with the scheduler's message.

A fan-out (``with_param``, ``with_sequence`` or slices) of a leaf whose executor has
``merge_sliced_step = True`` is run through a :class:`FanOutBatch`: the items' jobs are
collected and given to ``executor.run_batch`` together (one DPDispatcher submission, grouped
into scheduler jobs by its ``group_size``). A batch holds at most the items that run at once,
so the fan-out's ``parallelism`` bounds it; retried items go in later, smaller batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
from dflow.executor import Executor, JobResult, ScriptJob
from dflow.model.step import Step
from dflow.reporting import with_log_tail

from .outcome import Outcome
from .procs import RunProcesses
from .scripts import log_tail
from .state import RunContext, executor_for
from .values import StepError

#: seconds past a job's own timeout before the engine cancels it (the executor's own timeout
#: handling normally wins and reports the scheduler's view)
TIMEOUT_GRACE = 5.0
#: seconds an executor has to return once its job is cancelled, before the step fails anyway
CANCEL_GRACE = 30.0
#: a batch is sent once every running item has its job in it, or after this quiet time
#: (items can wait on a workflow/template semaphore held by the batch's own jobs)
QUIET_SECONDS = 0.3

_current: contextvars.ContextVar[FanOutBatch | None] = contextvars.ContextVar(
    "dflow_fan_out_batch", default=None
)


async def run_job(ctx: RunContext, executor: Executor, job: ScriptJob) -> JobResult:
    """Run ``job`` on ``executor`` (in a merged batch when its fan-out has one).

    A job that runs on this machine (``executor.runs_here``) carries the step's markers in
    its environment; whatever of it still runs when the job returns, times out, is stopped
    or cancelled is killed (SIGTERM, then SIGKILL), and the step's log and message say so.
    """
    book = ctx.procs if executor.runs_here else None
    if book is not None:
        job = attrs.evolve(job, env={**job.env, **book.step_env(job.name)})
    try:
        batch = _current.get()
        if batch is not None and batch.executor is executor:
            result = await batch.submit(job)
        else:
            result = await _in_thread(ctx, lambda: executor.run(job), [job], executor)
    except BaseException:  # cancelled (failfast): its processes go with it
        if book is not None:
            await _end_job(book, job, None)
        raise
    return result if book is None else await _end_job(book, job, result)


async def _end_job(book: RunProcesses, job: ScriptJob, result: JobResult | None) -> Any:
    """Kill the job's processes still running here; note it in the log (and the result)."""
    left, sigkill = await book.end_job(job.name)
    if not left:
        return result
    how = "SIGKILL (they ignored SIGTERM)" if sigkill else "SIGTERM"
    _append(
        job.log_path,
        f"[dflow] the job left {left} process(es) running on this machine: killed ({how})\n",
    )
    if result is None or result.exit_code == 0:
        return result
    note = f"killed the {left} process(es) it left running on this machine ({how})"
    return attrs.evolve(result, message=f"{result.message}; {note}")


async def _in_thread(
    ctx: RunContext,
    call: Callable[[], Any],
    jobs: Sequence[Any],
    executor: Executor,
    batch: bool = False,
) -> Any:
    """Run ``call`` (an executor's ``run`` or ``run_batch``) on a thread of its own.

    Whatever the executor does, the step ends: an exception of any kind, or a value that is
    not a JobResult, fails its jobs with a message naming the executor; a job past its
    timeout, or of a stopped workflow, is cancelled, and an executor that still has not
    returned ``CANCEL_GRACE`` seconds later is given up on (its thread is left behind).
    """
    from dflow.executor import JobResult

    name = type(executor).__name__
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def settle(value: Any) -> None:
        if not done.done():
            done.set_result(value)

    def failed(message: str) -> Any:
        for job in jobs:
            _append(job.log_path, f"[dflow] {message}\n")
        return [JobResult(1, message)] * len(jobs) if batch else JobResult(1, message)

    def target() -> None:
        try:
            value = call()
            if not _results_ok(value, len(jobs) if batch else None):
                what = "run_batch" if batch else "run"
                value = failed(
                    f"executor {name}.{what} returned {value!r:.80}, not "
                    + (f"a list of {len(jobs)} JobResults" if batch else "a JobResult")
                )
        # a broken executor (even one raising SystemExit) fails its steps, not the workflow
        except BaseException as exc:
            value = failed(f"executor {name} raised {type(exc).__name__}: {exc}")
        with contextlib.suppress(RuntimeError):  # the run ended: the step was given up on
            loop.call_soon_threadsafe(settle, value)

    # a thread per job: the default pool (cpu + 4 threads) would queue long scheduler jobs
    threading.Thread(target=target, daemon=True, name=f"dflow-job-{jobs[0].name}").start()
    cancel = ctx.control.cancel
    stop = asyncio.ensure_future(cancel.wait())
    timeouts = [j.timeout for j in jobs if j.timeout is not None]
    limit = min(timeouts) + TIMEOUT_GRACE if timeouts else None
    try:
        finished, _ = await asyncio.wait(
            {done, stop}, timeout=limit, return_when=asyncio.FIRST_COMPLETED
        )
        if done in finished:
            return done.result()
        timed_out = stop not in finished
        for job in jobs:  # the executor scancels and returns with the scheduler's message
            job.cancelled.set()
        try:
            result = await asyncio.wait_for(asyncio.shield(done), CANCEL_GRACE)
        except TimeoutError:
            why = "timed out" if timed_out else "was stopped"
            message = (
                f"the job {why} and executor {name} did not return within "
                f"{CANCEL_GRACE:g} s of being asked to cancel it (it may still run)"
            )
            result = failed(message)
        if timed_out:  # the engine's own timeout: say so, whatever the executor reported
            result = [_timed_out(r) for r in result] if batch else _timed_out(result)
        return result
    except asyncio.CancelledError:
        for job in jobs:
            job.cancelled.set()
        raise
    finally:
        stop.cancel()


def _results_ok(value: Any, n: int | None) -> bool:
    from dflow.executor import JobResult

    if n is None:
        return isinstance(value, JobResult)
    return (
        isinstance(value, list) and len(value) == n and all(isinstance(v, JobResult) for v in value)
    )


def _timed_out(result: Any) -> Any:
    return result if result.exit_code == 0 else attrs.evolve(result, timed_out=True)


def job_outcome(
    ctx: RunContext,
    executor: Executor,
    result: JobResult,
    display: str,
    python: bool,
    log: Any = None,
) -> Outcome:
    """The step attempt's Outcome for an executor's JobResult (with the job log's tail)."""

    if result.exit_code == 0:
        return Outcome("Succeeded", exit_code=0)
    where = f"step '{display}'"
    tail = log_tail(str(log)) if log is not None else ""
    detail = with_log_tail(result.message, tail)
    if ctx.control.stopping:
        return Outcome(
            "Failed",
            "stopped",
            f"{where}: {ctx.control.stop_message}: {result.message}",
            result.exit_code,
        )
    if result.timed_out:
        return Outcome("Failed", "timeout", f"{where} timed out: {detail}")
    if python:
        kind = {1: "transient", 2: "fatal"}.get(result.exit_code, "error")
        return Outcome(
            "Failed",
            kind,
            f"{where} failed on {type(executor).__name__} (exit code {result.exit_code}): {detail}",
            result.exit_code,
        )
    kind = "transient" if result.exit_code == 1 else "fatal"
    return Outcome(
        "Failed",
        kind,
        f"{where}: job exited with code {result.exit_code}: {detail}",
        result.exit_code,
    )


class FanOutBatch:
    """Collects the jobs of one fan-out's running items and sends them as one ``run_batch``."""

    def __init__(self, ctx: RunContext, executor: Executor, items: int, workers: int) -> None:
        self.ctx = ctx
        self.executor = executor
        self.items, self.workers = items, workers
        self.active = 0  # items running now
        self.started = 0
        self.pending: list[tuple[Any, asyncio.Future]] = []
        self.submissions = 0  # run_batch calls so far
        self._timer: asyncio.TimerHandle | None = None

    @contextlib.contextmanager
    def item(self) -> Iterator[None]:
        """Around one item's run: its jobs join this batch."""
        self.active += 1
        self.started += 1
        token = _current.set(self)
        try:
            yield
        finally:
            _current.reset(token)
            self.active -= 1
            self._maybe_send()

    async def submit(self, job: Any) -> Any:
        fut = asyncio.get_running_loop().create_future()
        self.pending.append((job, fut))
        self._maybe_send()
        try:
            return await fut
        except asyncio.CancelledError:  # debug_failfast stopping the fan-out: stop the job too
            job.cancelled.set()
            raise

    def _maybe_send(self) -> None:
        if not self.pending:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # every worker busy with an item, or about to take one, must have its job in
        idle = max(0, min(self.workers - self.active, self.items - self.started))
        if len(self.pending) >= self.active + idle:
            self._send()
        else:
            self._timer = asyncio.get_running_loop().call_later(QUIET_SECONDS, self._send)

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        taken, self.pending = self.pending, []
        if taken:
            self.submissions += 1
            asyncio.ensure_future(self._run(taken))

    async def _run(self, taken: list[tuple[Any, asyncio.Future]]) -> None:
        from dflow.executor import JobResult

        jobs = [job for job, _ in taken]
        try:
            results = await _in_thread(
                self.ctx, lambda: self.executor.run_batch(jobs), jobs, self.executor, batch=True
            )
        except BaseException as exc:
            results = [JobResult(1, f"batch of {len(jobs)} jobs failed: {exc}")] * len(jobs)
        for (_, fut), result in zip(taken, results, strict=True):
            if not fut.done():
                fut.set_result(result)


def fan_out_batch(ctx: RunContext, step: Step, items: int, workers: int) -> FanOutBatch | None:
    """A batch for ``step``'s fan-out of ``items`` run by ``workers`` coroutines when its
    executor merges sliced steps, else None."""
    from dflow.model.op_template import ScriptOPTemplate
    from dflow.python.template import PythonOPTemplate

    if not isinstance(step.template, PythonOPTemplate | ScriptOPTemplate):
        return None
    try:
        executor = executor_for(ctx, step)
    except StepError:  # each item reports it
        return None
    if executor is None or not getattr(executor, "merge_sliced_step", False):
        return None
    return FanOutBatch(ctx, executor, items, workers)


def _append(path: Any, text: str) -> None:
    with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as log:
        log.write(text)

"""One attempt of a leaf step, one function per kind of template, each returning an Outcome.

:func:`attempt` picks the function: a Python OP in the warm pool (:func:`attempt_python`) or
as an executor job (:func:`attempt_cached_job`), a script as a subprocess or an
executor job (:func:`attempt_script`), an HTTP request (:func:`http.attempt_http`). Steps and
DAG templates (super-OPs) are not leaves: the walker runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from dflow.executor import Executor, ScriptJob
from dflow.model.op_template import HTTPOPTemplate, ScriptOPTemplate
from dflow.model.saves import volume_reads
from dflow.python.template import PythonOPTemplate
from dflow.reporting import with_log_tail

from . import cachecheck, scripts
from .batch import job_outcome, run_job
from .http import attempt_http
from .layout import write_text
from .leaf import Leaf
from .outcome import Outcome
from .pool import WorkerDied, WorkerTimeout
from .procs import sigkill_note
from .remote_op import attempt_python_job
from .state import RunContext, executor_for, leaf_template, workflow_scope
from .stepfiles import python_script, reset_outputs
from .stepio import map_paths
from .values import StepError, env_strings, package_paths, render_text


async def attempt(ctx: RunContext, leaf: Leaf, number: int) -> Outcome:
    """Attempt ``number`` of ``leaf``; an unexpected exception is the step's Error, never a
    step left Running in a finished workflow."""
    echo = ctx.echo
    if echo is not None:
        echo.follow(leaf.sd.log)
    try:
        return await _attempt(ctx, leaf, number)
    except Exception as exc:
        message = f"step '{leaf.display}': {type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError), open(leaf.sd.log, "a", encoding="utf-8") as log:
            log.write(f"[dflow] {message}\n")
        return Outcome("Error", "error", message)
    finally:
        if echo is not None:
            echo.done(leaf.sd.log)


async def _attempt(ctx: RunContext, leaf: Leaf, number: int) -> Outcome:
    step, node, sd = leaf.step, leaf.node, leaf.sd
    tmpl = leaf_template(ctx, step.template)  # as the workflow's context renders it
    if node.attempts:  # an attempt before this one (or a run before this one) wrote some
        reset_outputs(ctx, sd, tmpl)
    ctx.nodes.transition(node, "Running", attempts=number)
    if isinstance(tmpl, PythonOPTemplate):
        executor = executor_for(ctx, step)
        if executor is None:
            return await attempt_python(ctx, tmpl, leaf, step.timeout_seconds)
        return await attempt_cached_job(ctx, executor, tmpl, leaf, step.timeout_seconds)
    if isinstance(tmpl, ScriptOPTemplate):
        return await attempt_script(ctx, tmpl, leaf)
    if isinstance(tmpl, HTTPOPTemplate):
        return await attempt_http(ctx, tmpl, sd, leaf.params, leaf.display, step.timeout)
    return Outcome("Error", "error", f"step '{leaf.display}': template {tmpl!r} cannot run locally")


async def attempt_python(
    ctx: RunContext, tmpl: PythonOPTemplate, leaf: Leaf, timeout: float | None
) -> Outcome:
    """A Python OP in a warm worker of the pool."""
    sd, display = leaf.sd, leaf.display
    assert ctx.pool is not None  # a run with Python OPs has a pool
    tmp = sd.tmp(tmpl.tmp_root)  # the OP's tmp_root: workdir/tmp, as in pydflow
    request = {
        "template": ctx.registry_index[id(leaf.step.template)],  # the pool holds the original
        "inputs_dir": tmp + "/inputs",
        "outputs_dir": tmp + "/outputs",
        "parameters_dir": sd.inputs + "/parameters",
        "workdir": sd.workdir,
        "slice_index": leaf.slice_index,
        "key": leaf.key,
        "workflow_name": ctx.wf_id,
        "progress_file": sd.root + "/progress",
        "success_tag": False,
        "log": sd.log,
        "pid_file": sd.pid,
        "env": env_strings(tmpl),
        "sys_path": package_paths(tmpl),
        # the step cache's spec (or None): the runner checks and fills it (docs/cache.md);
        # the engine's probe's own, so both key a slice alike (the executor that runs it)
        "cache": cachecheck.spec_json(ctx, leaf),
    }
    ctx.mirror.write(sd.script, python_script(ctx, tmpl, request))
    run = ctx.pool.run(request, timeout, ctx.control.cancel)
    ctx.mirror.idle()  # the request is sent when ``run`` starts, just after this
    try:
        phase, error, message, code = await run
    except WorkerDied as exc:
        return Outcome(
            "Error",
            "died",
            f"worker died (exit code {exc.exit_code}) while running step '{display}'",
            exc.exit_code,
        )
    except WorkerTimeout as exc:
        return Outcome(
            "Failed",
            "timeout",
            f"step '{display}' timed out after {timeout:g} s (its worker was killed"
            + (sigkill_note() if exc.sigkill else ")"),
        )
    except asyncio.CancelledError:
        if ctx.control.stopping:
            return Outcome("Failed", "stopped", ctx.control.stop_message)
        raise
    if phase == "Succeeded":
        return Outcome("Succeeded", exit_code=0)
    return Outcome("Failed", error, f"step '{display}' failed: {message}", code)


async def attempt_cached_job(
    ctx: RunContext,
    executor: Executor,
    tmpl: PythonOPTemplate,
    leaf: Leaf,
    timeout: float | None,
) -> Outcome:
    """A Python OP as a job of ``executor``; with the cache on, restored from it without a
    job, or stored in it when the job succeeded."""
    lk = cachecheck.check_python(ctx, leaf, tmpl)
    if lk is not None and lk.reused:
        return cachecheck.reused(lk.spec, lk)
    node, sd = leaf.node, leaf.sd
    out = await attempt_python_job(
        ctx, executor, tmpl, node, sd, leaf.slice_index, leaf.key, leaf.display, timeout
    )
    if lk is not None:
        cachecheck.store_python_run(leaf, tmpl, lk, out.ok)
    return out


async def attempt_script(ctx: RunContext, tmpl: ScriptOPTemplate, leaf: Leaf) -> Outcome:
    """A script: a subprocess in its own process group, or a job of the step's executor;
    with the cache on, restored from it, or stored in it when it succeeds."""
    lk = cachecheck.check_script(ctx, leaf, tmpl)
    if lk is not None and lk.reused:
        return cachecheck.reused(lk.spec, lk)
    out = await run_script(ctx, tmpl, leaf)
    if lk is not None:
        cachecheck.store_script_run(leaf, tmpl, lk, out.ok)
    return out


async def run_script(ctx: RunContext, tmpl: ScriptOPTemplate, leaf: Leaf) -> Outcome:
    step, sd, display = leaf.step, leaf.sd, leaf.display
    executor = executor_for(ctx, step)
    linked = frozenset(n for n, _ in volume_reads(step)) if tmpl.inputs.artifacts else frozenset()
    mapped = map_paths(tmpl, sd, leaf.arts, executor is not None, ctx.settings.copy_method, linked)
    scope = {
        "inputs": {
            "parameters": dict(leaf.params),
            "artifacts": {
                n: {"path": mapped.get(a.path, "")} for n, a in tmpl.inputs.artifacts.items()
            },
        },
        "outputs": {
            "parameters": {
                n: {"path": mapped.get(p.value_from_path or "", "")}
                for n, p in tmpl.outputs.parameters.items()
            },
            "artifacts": {
                n: {"path": mapped.get(a.path or "", "")} for n, a in tmpl.outputs.artifacts.items()
            },
        },
        "workflow": workflow_scope(ctx),
        "pod": {"name": leaf.node.id},
    }
    text = scripts.paths_to_variables(tmpl.script, scripts.declared_paths(tmpl))
    try:
        text = render_text(text, scope, f"script of step '{display}'")
    except StepError as exc:
        return Outcome("Error", "error", str(exc))
    write_text(sd.script, text)
    env = {**os.environ, **env_strings(tmpl), "TMPDIR": os.path.join(sd.workdir, "tmp")}
    os.makedirs(env["TMPDIR"], exist_ok=True)
    timeout = step.timeout_seconds  # the step's own timeout, else its template's
    if executor is not None:
        return await attempt_script_job(ctx, executor, tmpl, leaf, env, timeout, mapped)
    assert ctx.control.script_sem is not None  # set when the run starts
    # a step reading a shared volume waits for its producer: taking a slot while it waits
    # could leave none for the producer
    slot = contextlib.nullcontext() if linked else ctx.control.script_sem
    try:
        async with slot:
            code, timed_out, sigkill = await scripts.run_subprocess(
                [*tmpl.command, sd.script],
                sd.workdir,
                env,
                sd.log,
                timeout,
                ctx.control.cancel,
                pid_path=sd.pid,
                book=ctx.procs,
                node_id=leaf.node.id,
            )
    except asyncio.CancelledError:
        if ctx.control.stopping:
            return Outcome("Failed", "stopped", ctx.control.stop_message)
        raise
    if timed_out:
        return Outcome(
            "Failed",
            "timeout",
            f"step '{display}' timed out after {timeout:g} s (its process group was killed"
            + (sigkill_note() if sigkill else ")"),
        )
    if code == 0:
        return Outcome("Succeeded", exit_code=0)
    kind = "transient" if code == 1 else ("fatal" if code == 2 else "error")
    tail = scripts.log_tail(sd.log)
    return Outcome(
        "Failed",
        kind,
        with_log_tail(f"step '{display}': script exited with code {code}", tail),
        code,
    )


async def attempt_script_job(
    ctx: RunContext,
    executor: Executor,
    tmpl: ScriptOPTemplate,
    leaf: Leaf,
    env: dict[str, str],
    timeout: float | None,
    mapped: dict[str, str],
) -> Outcome:
    """A script as a job of ``executor`` (cancellation, timeout, merged fan-outs: batch)."""
    sd = leaf.sd
    ins = tuple(mapped[a.path] for a in tmpl.inputs.artifacts.values() if a.path in mapped)
    outs = tuple(
        mapped[p]
        for p in [x.value_from_path for x in tmpl.outputs.parameters.values()]
        + [x.path for x in tmpl.outputs.artifacts.values()]
        if p in mapped
    )
    job = ScriptJob(
        name=leaf.node.id,
        workflow_id=ctx.wf_id,
        script_path=Path(sd.script),
        command=tuple(tmpl.command),
        workdir=Path(sd.workdir),
        log_path=Path(sd.log),
        env={k: v for k, v in env.items() if k not in os.environ or os.environ[k] != v},
        inputs=ins,
        outputs=outs,
        timeout=timeout,
    )
    result = await run_job(ctx, executor, job)
    return job_outcome(ctx, executor, result, leaf.display, python=False, log=sd.log)

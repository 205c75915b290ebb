"""The step cache on the local engine: a cached step is restored before it is scheduled.

The check and the restore are the runner's (:func:`dflow.runner.core.probe_cache` for Python
OPs, :mod:`dflow.runner.scriptcache` for scripts), called here in the engine's process with
the step's inputs already on disk: a hit takes no slot (workflow or template parallelism,
script semaphore) and starts no process, and its node says where its outputs came from.
A miss is scheduled as usual, and the runner checks again (for Python OPs in the worker;
for scripts in :func:`check_script`; for Python OPs sent to an executor, which runs the
runner elsewhere without the cache, in :func:`check_python` before the job is submitted,
and :func:`store_python_run` stores what the job brought back). A step (a fan-out) whose
probes keep missing is not probed further in the run (:data:`COLD_AFTER`).

With the cache in a bucket, the engine opens it with the credentials it hands its workers
(:func:`dflow.cache.settings.CacheSettings.runner_env`), never through its own environment,
which the user's scripts inherit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from dflow.cache import cache_settings, cache_spec
from dflow.cache.fields import cacheable
from dflow.catalog import catalog_dir_name
from dflow.model.op_template import ScriptOPTemplate
from dflow.python.template import PythonOPTemplate
from dflow.runner.cache import CacheSpec, Lookup, adopt_store, store
from dflow.runner.caches3 import CacheLocationError
from dflow.runner.core import probe_cache
from dflow.runner.scriptcache import lookup_script, store_script

from .layout import host_path
from .leaf import Leaf
from .outcome import Outcome
from .state import RunContext, executor_for, run_cache_settings
from .stepfiles import reset_outputs

#: a step whose last probes all missed is taken to be cold in this run: its other slices go
#: straight to the runner, which checks anyway (a cold fan-out is not keyed twice per slice)
COLD_AFTER = 8
#: run -> step (id) -> its probes that missed in a row
_MISSES: weakref.WeakKeyDictionary[RunContext, dict[int, int]] = weakref.WeakKeyDictionary()
#: run -> the buckets it opened for the engine's own checks (once per run: settings are read)
_OPENED: weakref.WeakKeyDictionary[RunContext, set[tuple[str, ...]]] = weakref.WeakKeyDictionary()
#: run -> step (id) -> (the step, its spec, the spec as JSON): one spec for all the slices of
#: a fan-out
_SPECS: weakref.WeakKeyDictionary[
    RunContext, dict[int, tuple[Any, CacheSpec | None, str | None]]
] = weakref.WeakKeyDictionary()


def spec_of(ctx: RunContext, leaf: Leaf) -> CacheSpec | None:
    """The cache spec of this run of ``leaf`` (None: it does not use the cache), computed
    once per step and run (the same for every slice). The key names the executor that runs
    the step, the step's own or the workflow's default."""
    return _spec_entry(ctx, leaf)[1]


def spec_json(ctx: RunContext, leaf: Leaf) -> str | None:
    """:func:`spec_of` as the runner's ``cache`` argument (what a worker is sent): the
    engine's probe and the worker key a slice with one spec."""
    return _spec_entry(ctx, leaf)[2]


def _spec_entry(ctx: RunContext, leaf: Leaf) -> tuple[Any, CacheSpec | None, str | None]:
    step = leaf.step
    specs = _SPECS.setdefault(ctx, {})
    known = specs.get(id(step))
    if known is not None and known[0] is step:  # computed for an earlier slice of the step
        return known
    executor = executor_for(ctx, step) if step.executor is None else None
    if not cacheable(step.template):
        specs[id(step)] = (step, None, None)
        return specs[id(step)]
    settings = run_cache_settings(ctx)
    spec = cache_spec(
        step, step.template, ctx.wf.name, ctx.wf_id, step.name, settings, executor=executor
    )
    if spec is not None and spec.endpoint:
        _open_bucket(ctx, spec)
    specs[id(step)] = (step, spec, spec.to_json() if spec is not None else None)
    return specs[id(step)]


def _open_bucket(ctx: RunContext, spec: CacheSpec) -> None:
    """Let this process's checks reach the spec's bucket as its workers do: with the
    configured storage's credentials (the ones :func:`.run.worker_env` hands them)."""
    opened = _OPENED.setdefault(ctx, set())
    ident = (spec.root, spec.endpoint, spec.region)
    if ident in opened:
        return
    # the object-store clients (http.client, ssl) only for a run with a cache in a bucket
    from dflow.runner.cacheobj import open_bucket

    try:
        bucket = open_bucket(spec.root, spec.endpoint, spec.region, cache_settings().runner_env())
    except CacheLocationError:
        return  # e.g. no credentials: the checks say so, and the step runs uncached
    adopt_store(spec, bucket)
    opened.add(ident)


@contextlib.contextmanager
def _to_log(path: str) -> Iterator[None]:
    """The runner's notes (``[dflow cache] ...``) go to the step's log, as in a worker."""
    with open(path, "a", encoding="utf-8") as log, contextlib.redirect_stderr(log):
        yield


def reused(spec: CacheSpec, lk: Lookup) -> Outcome:
    """The outcome of a step restored from the cache: Succeeded, saying from which run."""
    run = lk.source_run or None
    return Outcome("Succeeded", message=f"reused from run {run} (key {lk.key[:12]})", exit_code=0)


async def probe(ctx: RunContext, leaf: Leaf) -> Outcome | None:
    """Before ``leaf`` is scheduled: its outcome when the cache holds its outputs (restored
    now), else None (schedule it: the attempt checks again and says what went wrong).
    A cache directory is checked here, in the event loop: a check is a few short file system
    calls, cheaper than handing it to a thread (on tmpfs, a warm 1,000-slice fan-out took
    25-35% less CPU). A bucket's check waits on the network: it runs in a thread, so checks
    of a fan-out's slices overlap."""
    if ctx.control.stopping or not ctx.control.resumed.is_set():
        return None  # a suspended run starts nothing: the attempt waits, then checks
    misses = _MISSES.setdefault(ctx, {})
    if misses.get(id(leaf.step), 0) >= COLD_AFTER:
        return None
    try:
        check = _check_of(ctx, leaf)
        if check is None:
            out = None
        elif "://" in check.root:  # a bucket
            out = await asyncio.to_thread(check)
        else:
            out = check()
    except Exception:
        return None
    if check is not None:
        misses[id(leaf.step)] = 0 if out is not None else misses.get(id(leaf.step), 0) + 1
    return out


@attrs.frozen
class _Check:
    """The blocking check of one leaf: ``run()`` (thread-safe: silent, its own files only),
    and where the cache is (``root``)."""

    run: Callable[[], Outcome | None]
    root: str

    def __call__(self) -> Outcome | None:
        return self.run()


def _check_of(ctx: RunContext, leaf: Leaf) -> _Check | None:
    """The blocking check of ``leaf``, or None when the step does not use the cache or is not
    checked before scheduling."""
    tmpl = leaf.step.template
    if not isinstance(tmpl, ScriptOPTemplate):
        return None
    spec = spec_of(ctx, leaf)
    if spec is None:
        return None
    sd = leaf.sd
    if leaf.node.attempts:  # a resumed run: start from empty outputs, as an attempt would
        reset_outputs(ctx, sd, tmpl)

    def check() -> Outcome | None:
        if isinstance(tmpl, PythonOPTemplate):
            lk = _lookup_python(spec, leaf, tmpl, probe=True)
        else:
            lk = _lookup_script(spec, leaf, tmpl, probe=True)
        if lk is None or not lk.reused:
            if lk is not None and lk.key and lk.why not in ("", "missing"):
                # the step's own check discards the entry; what this one saw is said here,
                # as it may have removed an altered object (the next check finds it missing)
                _log_line(sd.log, f"entry {lk.key[:12]} unusable: {lk.why}")
            return None
        out = reused(spec, lk)
        _log_line(sd.log, out.message)  # as the runner notes it
        return out

    return _Check(check, spec.root)


def _log_line(path: str, text: str) -> None:
    """Append ``[dflow cache] text`` to the step's log: one ``O_APPEND`` write (a warm run
    notes every restored slice, and a text file object costs more than the write)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"[dflow cache] {text}\n".encode())
    finally:
        os.close(fd)


def script_outputs(tmpl: ScriptOPTemplate, workdir: str) -> dict[str, str]:
    """The outputs of a script as the cache stores them: name -> where the script writes."""
    out = {
        f"parameters/{n}": host_path(workdir, p.value_from_path)
        for n, p in tmpl.outputs.parameters.items()
        if p.value_from_path
    }
    out.update(
        {
            f"artifacts/{n}": host_path(workdir, a.path)
            for n, a in tmpl.outputs.artifacts.items()
            if a.path
        }
    )
    return out


def _lookup_script(
    spec: CacheSpec, leaf: Leaf, tmpl: ScriptOPTemplate, probe: bool = False
) -> Lookup:
    arts: dict[str, Any] = dict(leaf.arts)
    outputs = script_outputs(tmpl, leaf.sd.workdir)
    catalog = catalog_dir_name()
    return lookup_script(
        spec, leaf.params, arts, leaf.slice_index, outputs, leaf.sd.root, probe, catalog
    )


def check_script(ctx: RunContext, leaf: Leaf, tmpl: ScriptOPTemplate) -> Lookup | None:
    """An attempt's own check (the runner's, as in a pod): None when the step does not use
    the cache; a Lookup, ``reused`` when the outputs were restored."""
    spec = spec_of(ctx, leaf)
    if spec is None:
        return None
    with _to_log(leaf.sd.log):
        return _lookup_script(spec, leaf, tmpl)


def store_script_run(leaf: Leaf, tmpl: ScriptOPTemplate, lk: Lookup, ok: bool) -> None:
    """After an attempt: store its outputs when it succeeded, record it for ``explain``."""
    with _to_log(leaf.sd.log):
        store_script(lk, script_outputs(tmpl, leaf.sd.workdir), leaf.sd.root, ok)


def _lookup_python(
    spec: CacheSpec, leaf: Leaf, tmpl: PythonOPTemplate, probe: bool = False
) -> Lookup | None:
    """The runner's check of a Python OP on the inputs the step's worker would read."""
    sd = leaf.sd
    tmp = sd.tmp(tmpl.tmp_root)
    return probe_cache(
        tmpl.op_class,
        spec,
        inputs_dir=os.path.join(tmp, "inputs"),
        outputs_dir=os.path.join(tmp, "outputs"),
        workdir=sd.workdir,
        slices=tmpl.slices if leaf.slice_index is not None else None,
        slice_index=leaf.slice_index,
        parameters_dir=os.path.join(sd.inputs, "parameters"),
        probe=probe,
    )


def check_python(ctx: RunContext, leaf: Leaf, tmpl: PythonOPTemplate) -> Lookup | None:
    """The own check of an attempt that sends a Python OP to an executor (whose runner runs
    without the cache): as a worker's runner checks. None when the step does not use the
    cache or its inputs cannot be read (the job says why); ``reused`` when restored."""
    spec = spec_of(ctx, leaf)
    if spec is None:
        return None
    with _to_log(leaf.sd.log):
        return _lookup_python(spec, leaf, tmpl)


def store_python_run(leaf: Leaf, tmpl: PythonOPTemplate, lk: Lookup, ok: bool) -> None:
    """After an executor's job: store the outputs it brought back when it succeeded (the
    ``outputs`` directory a worker's runner stores), record it for ``explain``."""
    with _to_log(leaf.sd.log):
        store(lk, os.path.join(leaf.sd.tmp(tmpl.tmp_root), "outputs"), ok)

"""Run a group of slices in one call (``Slices(group_size=...)``), serially or in a pool.

``Slices(pool_size=n)`` (or ``OP.pool_size``) runs the slices in a ``multiprocessing`` pool
of ``n`` processes (-1: one per slice; None or 1: serially in this process). Slice
failures are collected: the run fails with the first failure, unless a success tag is asked
for without ``raise_for_group``, in which case the failed slices are left out.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .core import _Run, execute_checked, slice_cwd, write_slice_outputs
from .inputs import select_slice
from .outputs import write_outputs
from .result import SUCCEEDED, OPResult, error_kind, exception_message, exit_code_of, failure


def _run_slice(
    run: _Run, whole: dict[str, Any], index: int
) -> tuple[int, Mapping[str, Any] | None, Path, tuple[str, str, str] | None]:
    """(index, outputs or None, cwd, error: (kind, message, traceback) or None)."""
    cwd = slice_cwd(run, index)
    try:
        op_in = select_slice(run.name, whole, run.sliced_inputs, index)
        return index, execute_checked(run, op_in, cwd), cwd, None
    except (Exception, SystemExit) as exc:
        # keep the set_output values of the failed slice, as a single run does
        write_outputs(run.ctx, run.out_sign, run.op.__dict__.get("outputs") or {}, cwd, False)
        error = (error_kind(exc), exception_message(exc), traceback.format_exc())
        return index, None, cwd, error


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork: the workers see the OP's module even when it was loaded from a file (--op-file)
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _run_pool(run: _Run, whole: dict[str, Any], indices: list[int], size: int) -> list:
    timeout = run.slices.pool_timeout if run.slices is not None else None
    with _pool_context().Pool(min(size, len(indices))) as pool:
        pending = [(i, pool.apply_async(_run_slice, (run, whole, i))) for i in indices]
        results = []
        for index, res in pending:
            try:
                results.append(res.get(timeout))
            except multiprocessing.TimeoutError:
                message = f"TimeoutError: slice {index} did not finish within {timeout} s"
                results.append((index, None, slice_cwd(run, index), ("error", message, "")))
            except Exception as exc:  # the pool itself failed (e.g. an unpicklable value)
                error = ("error", exception_message(exc), traceback.format_exc())
                results.append((index, None, slice_cwd(run, index), error))
        pool.terminate()  # a timed-out slice must not outlive the group
    return results


def run_group(run: _Run, whole: dict[str, Any], indices: list[int]) -> OPResult:
    size = run.op.pool_size
    if size == -1:
        size = len(indices)
    if size is not None and size > 1 and len(indices) > 1:
        results = _run_pool(run, whole, indices, size)
    else:
        results = [_run_slice(run, whole, i) for i in indices]
    done = [(i, out, cwd) for i, out, cwd, err in results if err is None]
    failed = [(i, err) for i, _, _, err in results if err is not None]
    try:
        write_slice_outputs(run, done)
    except Exception as exc:
        return failure(exc)
    if not failed:
        return SUCCEEDED
    kinds = [err[0] for _, err in failed]
    kind = "fatal" if "fatal" in kinds else kinds[0]
    index, (_, message, trace) = failed[0]
    more = f" (and {len(failed) - 1} more failed slices)" if len(failed) > 1 else ""
    text = f"slice {index}: {message}{more}"
    sl = run.slices
    run.slices_failed = True
    if sl is not None and not sl.raise_for_group and run.tolerate_failures:
        return OPResult("Succeeded", None, text, 0, trace)
    return OPResult("Failed", kind, text, exit_code_of(kind), trace)

"""``run_op``: run a Python OP on an inputs directory and write its outputs directory.

This is the one code path every engine uses (local workers, Argo containers, HPC jobs), so an
OP behaves the same everywhere. It never raises and never exits: the outcome is an
``OPResult``. It changes the process's working directory while the OP runs, so call it from
one thread per process.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..names import check_rendered_key
from ..python.op import OP, make_instance, raw_execute
from ..python.opio import OPIO, Artifact
from ..python.sign_check import check_inputs, check_outputs
from ..python.slices import Slices
from .inputs import read_inputs, select_slice
from .outputs import (
    OutputContext,
    write_artifact,
    write_outputs,
    write_parameter,
    write_stacked_parameter,
)
from .result import SUCCEEDED, OPResult, failure

if TYPE_CHECKING:
    from .cache import CacheSpec, Lookup


@dataclasses.dataclass
class _Run:
    """Everything one run shares between its slices."""

    op: OP
    name: str
    in_sign: Mapping[str, Any]
    out_sign: Mapping[str, Any]
    ctx: OutputContext
    slices: Slices | None
    sliced_inputs: set[str]
    tolerate_failures: bool = False  # success tag without raise_for_group: skip failed slices
    slices_failed: bool = False


def _abs(path: Path | str) -> Path:
    return Path(os.path.abspath(path))


def run_op(
    op: type[OP] | OP,
    *,
    inputs_dir: Path,
    outputs_dir: Path,
    workdir: Path,
    slices: Slices | None = None,
    slice_index: Any = None,
    key: str | None = None,
    workflow_name: str | None = None,
    progress_file: Path | None = None,
    success_tag: bool = False,
    input_types: dict | None = None,
    parameters_dir: Path | None = None,
    cache: CacheSpec | None = None,
) -> OPResult:
    """Run ``op`` once (or once per slice of a group) and return how it ended.

    ``slice_index`` (an int, or a list of ints for ``Slices(group_size=...)``) picks the items
    of the inputs named in ``slices.input_parameter``/``input_artifact``. Input parameters
    are read from ``parameters_dir`` if given, else from ``<inputs_dir>/parameters``.
    With ``cache``, a run whose key has a sound entry restores its outputs instead of
    running, and a successful run stores them (see :mod:`dflow.runner.cache`).
    """
    inputs_dir, outputs_dir, workdir = _abs(inputs_dir), _abs(outputs_dir), _abs(workdir)
    try:
        run = _prepare(op, inputs_dir, outputs_dir, workdir, slices, slice_index is not None)
        run.tolerate_failures = success_tag
        if key is not None:  # rendered from the step's values: it must still be a name
            run.op.key = check_rendered_key(key, f"OP {run.name}") if key else key
        if workflow_name is not None:
            run.op.workflow_name = workflow_name
        if progress_file is not None:
            object.__setattr__(run.op, "_progress_file", str(progress_file))
        whole = read_inputs(
            run.name, run.in_sign, inputs_dir, run.sliced_inputs, input_types, parameters_dir
        )
    except (Exception, SystemExit) as exc:
        result, slices_failed = failure(exc), False
    else:
        looked = _lookup(cache, run, whole, slice_index, inputs_dir, outputs_dir)
        if looked is not None and looked.key and not looked.reused:
            run.ctx.track()  # stored after the run: what it writes is listed as it goes
        if looked is not None and looked.reused:
            result = SUCCEEDED
        elif isinstance(slice_index, (list, tuple)):
            from .group import run_group

            result = run_group(run, whole, [int(i) for i in slice_index])
        else:
            result = _run_one(run, whole, None if slice_index is None else int(slice_index))
        slices_failed = run.slices_failed
        if looked is not None:
            from .cache import store

            ok = result.ok and not run.slices_failed
            store(looked, str(outputs_dir), ok, run.ctx.written)
    if success_tag:
        outputs_dir.mkdir(parents=True, exist_ok=True)
        succeeded = result.ok and not slices_failed
        (outputs_dir / "success_tag").write_text("true" if succeeded else "false")
    return result


def probe_cache(
    op: type[OP] | OP,
    cache: CacheSpec,
    *,
    inputs_dir: Path | str,
    outputs_dir: Path | str,
    workdir: Path | str,
    slices: Slices | None = None,
    slice_index: Any = None,
    parameters_dir: Path | str | None = None,
    probe: bool = True,
    source: str | None = None,
) -> Lookup | None:
    """Only the cache check of :func:`run_op`: key the run and restore a sound entry's outputs
    into ``outputs_dir``; the OP never runs. An engine that has the inputs at hand calls it
    to skip scheduling a cached step; None when the inputs cannot be read (the run says
    why). ``probe=False``: the run's own check (an engine that runs the OP elsewhere, with
    no cache there), which notes a damaged entry and discards it, as :func:`run_op` does.
    ``source``: the OP's source digest, when ``op`` stands in for an OP that cannot be
    imported here (:mod:`.cacheop`)."""
    ins, outs = _abs(inputs_dir), Path(os.path.abspath(outputs_dir))
    pars = Path(parameters_dir) if parameters_dir is not None else None
    try:
        run = _probe_shape(op, slices, slice_index is not None)
        whole = read_inputs(run.name, run.in_sign, ins, run.sliced_inputs, None, pars)
    except (Exception, SystemExit):
        return None
    return _lookup(cache, run, whole, slice_index, ins, outs, probe=probe, source=source)


_SHAPES: dict[tuple[int, int, bool], tuple[Any, Any, _Run]] = {}


def _probe_shape(op: type[OP] | OP, slices: Slices | None, indexed: bool) -> _Run:
    """What a probe needs of ``op``'s runs (its name, signs and sliced inputs), made once
    per OP and slicing: an engine probes every slice of a fan-out, and a probe neither runs
    the OP nor writes outputs (so the run's directories do not matter)."""
    memo = (id(op), id(slices), indexed)
    known = _SHAPES.get(memo)
    if known is None or known[0] is not op or known[1] is not slices:
        if len(_SHAPES) > 256:  # a long-lived engine probes many OPs
            _SHAPES.clear()
        # dirs with different parents: an OP instance's tmp_root is left alone
        ins, outs = Path("/probe/inputs"), Path("/probe-outputs/outputs")
        known = _SHAPES[memo] = (op, slices, _prepare(op, ins, outs, outs, slices, indexed))
    return known[2]


def _lookup(
    spec: CacheSpec | None,
    run: _Run,
    whole: dict[str, Any],
    slice_index: Any,
    inputs_dir: Path,
    outputs_dir: Path,
    probe: bool = False,
    source: str | None = None,
) -> Lookup | None:
    """Ask the cache about this run (None: no cache, or inputs it cannot key)."""
    if spec is None:
        return None
    from .cache import lookup

    if slice_index is None:
        op_ins = [whole]
    else:
        indices = slice_index if isinstance(slice_index, (list, tuple)) else [slice_index]
        try:
            op_ins = [select_slice(run.name, whole, run.sliced_inputs, int(i)) for i in indices]
        except Exception:  # reported by the run itself
            return None
    arts = {n for n, s in run.in_sign.items() if isinstance(s, Artifact)}
    roots = {n: str(inputs_dir / "artifacts" / n) for n in arts}
    op_class = type(run.op)
    names = list(run.in_sign)
    outs = str(outputs_dir)
    return lookup(spec, op_class, names, arts, op_ins, roots, slice_index, outs, probe, source)


def _prepare(
    op: type[OP] | OP,
    inputs_dir: Path,
    outputs_dir: Path,
    workdir: Path,
    slices: Slices | None,
    indexed: bool,
) -> _Run:
    instance = make_instance(op)
    name = type(instance).__name__
    in_sign, out_sign = instance.get_input_sign(), instance.get_output_sign()
    sliced: set[str] = set()
    if slices is not None:
        instance.create_slice_dir = bool(slices.create_dir or instance.create_slice_dir)
        if slices.pool_size is not None:
            instance.pool_size = slices.pool_size
        if indexed:
            sliced.update(slices.input_parameter)
            if not slices.sub_path:  # in sub_path mode the engine hands over one slice only
                sliced.update(slices.input_artifact)
    if inputs_dir.parent == outputs_dir.parent:
        instance.tmp_root = str(inputs_dir.parent)
    roots = [inputs_dir / "artifacts" / n for n, s in in_sign.items() if isinstance(s, Artifact)]
    ctx = OutputContext(name, outputs_dir, workdir, roots)
    return _Run(instance, name, in_sign, out_sign, ctx, slices, sliced)


def slice_cwd(run: _Run, index: int | None) -> Path:
    """The working directory of a slice: its own sub dir when slices create dirs."""
    if index is not None and run.op.create_slice_dir:
        return run.ctx.workdir / f"slice_{index}"
    return run.ctx.workdir


def execute_checked(run: _Run, op_in: Mapping[str, Any], cwd: Path) -> OPIO:
    """Check the inputs, run ``execute`` in ``cwd``, check the outputs."""
    op = run.op
    object.__setattr__(op, "outputs", {})  # set_output values of this run only
    checked = check_inputs(run.name, run.in_sign, op_in)
    previous = os.getcwd()
    try:
        os.chdir(cwd)
    except FileNotFoundError:
        os.makedirs(cwd, exist_ok=True)
        os.chdir(cwd)
    try:
        out = raw_execute(op)(checked)
        return check_outputs(run.name, run.out_sign, out, op.__dict__.get("outputs"))
    finally:
        os.chdir(previous)


def _run_one(run: _Run, whole: dict[str, Any], index: int | None) -> OPResult:
    cwd = slice_cwd(run, index)
    try:
        op_in = (
            select_slice(run.name, whole, run.sliced_inputs, index) if index is not None else whole
        )
        outputs = execute_checked(run, op_in, cwd)
    except (Exception, SystemExit) as exc:
        write_outputs(run.ctx, run.out_sign, run.op.__dict__.get("outputs") or {}, cwd, False)
        return failure(exc)
    try:
        write_slice_outputs(run, [(index, outputs, cwd)])
    except Exception as exc:
        return failure(exc)
    return SUCCEEDED


def write_slice_outputs(run: _Run, done: list[tuple[int | None, Mapping[str, Any], Path]]) -> None:
    """Write the outputs of the slices that succeeded: sliced outputs stacked with their
    slice index as order, the others from the first slice."""
    if not done:
        return
    sl = run.slices
    stack_pars = set(sl.output_parameter) if sl is not None else set()
    stack_arts = set(sl.output_artifact) if sl is not None else set()
    first_index, first, first_cwd = done[0]
    for name, sign in run.out_sign.items():
        if name not in first:
            continue
        is_art = isinstance(sign, Artifact)
        if first_index is not None and name in (stack_arts if is_art else stack_pars):
            if is_art:
                for index, outputs, cwd in done:
                    write_artifact(run.ctx, name, sign, outputs[name], cwd, order=index)
            else:
                pairs = [(index, outputs[name]) for index, outputs, _ in done]
                write_stacked_parameter(run.ctx, name, pairs)
        elif is_art:
            write_artifact(run.ctx, name, sign, first[name], first_cwd)
        else:
            write_parameter(run.ctx, name, sign, first[name])

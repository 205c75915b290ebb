"""A step's inputs (parameter texts, artifact paths) and a leaf's files: where its container
paths live below the workdir, and what it produced.

Pure functions of the template, the step directory and the result: the engine records what
``read_outputs`` found (``stepfiles.record_outputs``).
"""

from __future__ import annotations

import os

from dflow.fileio import read_file
from dflow.model.io import (
    MISSING,
    PVC,
    step_input_names,
    step_input_optional,
    step_input_value,
)
from dflow.model.op_template import HTTPOPTemplate, OPTemplate, ScriptOPTemplate
from dflow.model.step import Step
from dflow.python.template import PythonOPTemplate
from dflow.serialization import dump_value

from .artifacts import resolve_artifact
from .layout import StepDir, host_path, place, remove, sub_path_item
from .state import Frame, RunContext, SliceIndex
from .stepfiles import input_type
from .values import Result, StepError, param_type


def map_paths(
    tmpl: ScriptOPTemplate,
    sd: StepDir,
    arts: dict,
    relative: bool,
    copy_method: str,
    linked: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Container path -> local path (below the workdir); inputs placed (the ``linked`` ones
    as links, whatever ``copy_method``: a shared volume's), parents made."""
    mapped: dict[str, str] = {}

    def local(p: str) -> str:
        host = host_path(sd.workdir, p)
        mapped[p] = os.path.relpath(host, sd.workdir) if relative else host
        return host

    for name, a in tmpl.inputs.artifacts.items():
        if a.path:
            host = local(a.path)
            if arts.get(name) is not None:
                method = "symlink" if name in linked else copy_method
                place(sd.artifact_path("inputs", name), host, method)
    for p in tmpl.outputs.parameters.values():
        if p.value_from_path:
            remove(local(p.value_from_path))
            os.makedirs(os.path.dirname(host_path(sd.workdir, p.value_from_path)), exist_ok=True)
    for a in tmpl.outputs.artifacts.values():
        if a.path:
            host = local(a.path)
            remove(host)
            os.makedirs(os.path.dirname(host), exist_ok=True)
    return mapped


def read_outputs(tmpl: OPTemplate, sd: StepDir, res: Result, who: str, strict: bool = True) -> None:
    """Read what the step produced into ``res`` (``strict``: a missing output is an error)."""
    # Python OPs write <tmp_root>/outputs, HTTP steps outputs/, scripts their declared paths
    if isinstance(tmpl, PythonOPTemplate):
        produced: str | None = sd.tmp(tmpl.tmp_root) + "/outputs"
    elif isinstance(tmpl, HTTPOPTemplate):
        produced = sd.outputs
    else:
        produced = None
    for name, p in tmpl.outputs.parameters.items():
        if produced is not None:
            path = produced + "/parameters/" + name
        elif p.value_from_path:
            path = host_path(sd.workdir, p.value_from_path)
        else:
            continue
        text = None
        try:
            text = read_file(path)
            # Argo's executor trims exactly one trailing newline ("for user
            # convenience"): "a\n" -> "a", "a\n\n" -> "a\n", "a" -> "a"; the OP runner
            # writes one more, so a Python OP's value survives it on both engines
            text = text[:-1] if text.endswith("\n") else text
        except OSError:
            d = getattr(p, "default", MISSING)
            if d is not MISSING:
                text = dump_value(d)
                text = text[:-1] if text.endswith("\n") else text  # Argo trims it too
            elif strict:
                where = p.value_from_path or path
                raise StepError(
                    f"step '{who}': output parameter '{name}' was not written (expected at {where})"
                )
        if text is not None:
            res.params[name] = text
            res.types[name] = param_type(p)
    for name, a in tmpl.outputs.artifacts.items():
        if produced is not None:
            path = produced + "/artifacts/" + name
        elif a.path:
            path = host_path(sd.workdir, a.path)
        else:
            continue
        if os.path.exists(path):
            res.arts[name] = path
        elif strict and not a.optional:
            raise StepError(
                f"step '{who}': output artifact '{name}' was not "
                f"produced (expected at {a.path or path})"
            )


def input_artifacts(
    ctx: RunContext, frame: Frame, step: Step, scope: dict, where: str, slice_index: SliceIndex
) -> tuple[dict[str, str | None], dict[str, str]]:
    """The local path of each input artifact, and for a ``Slices(sub_path=True)`` item
    the item's path inside its artifact (by input name)."""
    arts: dict[str, str | None] = {}
    items: dict[str, str] = {}
    sub_sliced = step.slices is not None and step.slices.sub_path and isinstance(slice_index, int)
    for name in step_input_names(step, "artifacts"):
        source = getattr(step.inputs.artifacts.get(name), "source", None)
        path = resolve_artifact(ctx, frame, source, scope, where)
        if path is None:
            if not step_input_optional(step, name):
                raise StepError(
                    f"{where}: input artifact '{name}' has no source; give "
                    f"one in artifacts={{'{name}': ...}} or mark it optional"
                )
            arts[name] = None
            continue
        if sub_sliced and isinstance(slice_index, int) and name in step.slices.input_artifact:
            try:
                path, item = sub_path_item(path, slice_index)
            except IndexError as exc:
                raise StepError(f"{where}: input artifact '{name}': {exc}") from None
            if item:
                items[name] = item
        if isinstance(source, PVC):
            pass  # its producer writes it while this step runs
        elif not os.path.exists(path):  # a dangling link too: one stat, no lstat before it
            raise StepError(f"{where}: input artifact '{name}' does not exist: {path}")
        arts[name] = path
    return arts, items


def input_parameters(
    ctx: RunContext, step: Step, scope: dict, where: str, slice_index: SliceIndex
) -> tuple[dict[str, str], dict[str, str | None], dict[str, str]]:
    """Each input parameter's text, its type, and (a sliced item) the item's value as shown."""
    tmpl = step.template
    params, types, shown = {}, {}, {}
    sliced = (
        set(step.slices.input_parameter)
        if (step.slices is not None and slice_index is not None)
        else set()
    )
    for name in step_input_names(step, "parameters"):
        p = step.inputs.parameters.get(name) or tmpl.inputs.parameters[name]
        value = step_input_value(step, name)  # the template may have changed since
        if value is MISSING:
            raise StepError(f"{where}: input parameter '{name}' has no value and no default")
        params[name] = ctx.texts.param_text(p, value, scope, where)
        types[name] = input_type(ctx, step, name)
        if name in sliced and isinstance(slice_index, int):
            try:
                whole = ctx.texts.parsed_list(params[name])
                shown[name] = dump_value(whole[slice_index])
            except (ValueError, IndexError, TypeError):
                pass
    return params, types, shown

"""A leaf step's files: where its container paths live below the workdir, and what it produced.

Pure functions of the template, the step directory and the result: the engine records what
``read_outputs`` found (``stepfiles.record_outputs``).
"""

from __future__ import annotations

import os
from typing import Any

from dflow.model.io import MISSING, render_value, step_input_names, step_input_optional
from dflow.model.op_template import HTTPOPTemplate
from dflow.python.template import PythonOPTemplate
from dflow.serialization import dump_value, load_value

from .artifacts import resolve_artifact
from .layout import StepDir, host_path, place, remove, sub_path_item
from .values import Result, StepError, param_type, render_text, value_text


def map_paths(
    tmpl: Any, sd: StepDir, arts: dict, relative: bool, copy_method: str
) -> dict[str, str]:
    """Container path -> local path (below the workdir); inputs placed, parents made."""
    mapped: dict[str, str] = {}

    def local(p: str) -> str:
        host = host_path(sd.workdir, p)
        mapped[p] = os.path.relpath(host, sd.workdir) if relative else host
        return host

    for name, a in tmpl.inputs.artifacts.items():
        if a.path:
            host = local(a.path)
            if arts.get(name) is not None:
                place(sd.artifact_path("inputs", name), host, copy_method)
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


def read_outputs(tmpl: Any, sd: StepDir, res: Result, who: str, strict: bool = True) -> None:
    """Read what the step produced into ``res`` (``strict``: a missing output is an error)."""
    # Python OPs write <tmp_root>/outputs, HTTP steps outputs/, scripts their declared paths
    if isinstance(tmpl, PythonOPTemplate):
        produced: str | None = os.path.join(sd.tmp(tmpl.tmp_root), "outputs")
    elif isinstance(tmpl, HTTPOPTemplate):
        produced = sd.outputs
    else:
        produced = None
    for name, p in tmpl.outputs.parameters.items():
        if produced is not None:
            path = os.path.join(produced, "parameters", name)
        elif p.value_from_path:
            path = host_path(sd.workdir, p.value_from_path)
        else:
            continue
        text = None
        try:
            with open(path) as f:
                text = f.read()
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
            path = os.path.join(produced, "artifacts", name)
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


class TextCache:
    """Parameter texts and parsed lists, computed once per step rather than once per item."""

    def __init__(self) -> None:
        self._text: dict[int, tuple] = {}
        self._list: dict[int, tuple] = {}

    def param_text(self, p: Any, value: Any, scope: dict, where: str) -> str:
        """The text of a parameter value; literals are dumped once per step, not per item
        (the text is rendered per item: a list may hold ``{{item}}`` or a reference)."""
        if isinstance(value, str) or not isinstance(
            value, list | tuple | dict | int | float | bool | type(None)
        ):
            return value_text(value, scope, where)
        cached = self._text.get(id(p))
        if cached is None or cached[0] is not value:
            cached = (value, render_value(value))
            self._text[id(p)] = cached
        return render_text(cached[1], scope, where)

    def parsed_list(self, text: str) -> list:
        # one parse per distinct list text, shared by every slice of a fan-out
        cached = self._list.get(id(text))
        if cached is None or cached[0] is not text:
            from dflow.runner.inputs import flatten_stacked

            cached = (text, flatten_stacked(load_value(text, list)))
            self._list[id(text)] = cached
        return cached[1]


def input_artifacts(
    run: Any, frame: Any, step: Any, scope: dict, where: str, slice_index: Any
) -> tuple[dict[str, str | None], dict[str, str]]:
    """The local path of each input artifact, and for a ``Slices(sub_path=True)`` item
    the item's path inside its artifact (by input name)."""
    arts: dict[str, str | None] = {}
    items: dict[str, str] = {}
    sub_sliced = step.slices is not None and step.slices.sub_path and isinstance(slice_index, int)
    for name in step_input_names(step, "artifacts"):
        source = getattr(step.inputs.artifacts.get(name), "source", None)
        path = resolve_artifact(run, frame, source, scope, where)
        if path is None:
            if not step_input_optional(step, name):
                raise StepError(
                    f"{where}: input artifact '{name}' has no source; give "
                    f"one in artifacts={{'{name}': ...}} or mark it optional"
                )
            arts[name] = None
            continue
        if sub_sliced and name in step.slices.input_artifact:
            try:
                path, item = sub_path_item(path, slice_index)
            except IndexError as exc:
                raise StepError(f"{where}: input artifact '{name}': {exc}") from None
            if item:
                items[name] = item
        if not os.path.lexists(path) or not os.path.exists(path):
            raise StepError(f"{where}: input artifact '{name}' does not exist: {path}")
        arts[name] = path
    return arts, items

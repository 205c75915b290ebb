"""Values at run time: scopes for the expression evaluator, parameters, loop items.

Parameter values in a scope are strings, as in Argo; artifacts are local paths.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

import attrs
from dflow import expressions as ex
from dflow.model.io import MISSING, ArgoVar, render_value
from dflow.serialization import dump_value, load_value, type_name

OK_PHASES = ("Succeeded", "Skipped")


class StepError(RuntimeError):
    """A step cannot run (bad input at run time); the message names the step."""


@attrs.define(slots=False)
class Result:
    """How a step (or a loop, or a template) ended, and what it produced."""

    phase: str
    node_id: str | None = None
    params: dict[str, str] = attrs.field(factory=dict)
    types: dict[str, str | None] = attrs.field(factory=dict)
    arts: dict[str, str | None] = attrs.field(factory=dict)
    exit_code: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.phase in OK_PHASES

    def scope(self) -> dict[str, Any]:
        # memoized: a template's scope is rebuilt for every sibling step that starts
        cached = self.__dict__.get("_scope_cache")
        if cached is not None and cached[0] == (self.phase, len(self.params), len(self.arts)):
            return cached[1]
        scope = self._scope()
        object.__setattr__(
            self, "_scope_cache", ((self.phase, len(self.params), len(self.arts)), scope)
        )
        return scope

    def _scope(self) -> dict[str, Any]:
        return {
            "outputs": {
                "parameters": dict(self.params),
                "artifacts": {k: v for k, v in self.arts.items() if v is not None},
            },
            "status": self.phase,
            "exitCode": "" if self.exit_code is None else str(self.exit_code),
            "id": self.node_id or "",
        }


def digest(text: str, n: int = 10) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n]


def needs_render(text: str) -> bool:
    return "{{" in text


def render_text(text: str, scope: dict, where: str) -> str:
    if not needs_render(text):
        return text
    try:
        return ex.render(text, scope)
    except ex.ExpressionError as exc:
        raise StepError(f"{where}: {exc}") from None


def value_text(value: Any, scope: dict, where: str) -> str:
    """The text of an argument value (literal, reference, expression, template string)."""
    return render_text(render_value(value), scope, where)


def param_type(param: Any) -> str | None:
    tp = getattr(param, "type", None)
    return type_name(tp) if tp is not None else None


def default_text(value: Any) -> str | None:
    if value is MISSING:
        return None
    return dump_value(value)


def when_true(when: Any, scope: dict, where: str) -> bool:
    if isinstance(when, bool):
        return when
    text = str(when) if isinstance(when, ArgoVar) else render_value(when)
    try:
        return bool(ex.evaluate_condition(text, scope))
    except ex.ExpressionError as exc:
        raise StepError(f"{where}: cannot evaluate when={text!r}: {exc}") from None


def parse_items(text: str, where: str) -> list:
    try:
        items = json.loads(text)
    except ValueError:
        raise StepError(f"{where}: with_param is not a JSON list: {text[:200]!r}") from None
    if not isinstance(items, list):
        raise StepError(f"{where}: with_param must be a list, got {type(items).__name__}")
    return items


def sequence_items(seq: Any, scope: dict, where: str) -> list[str]:
    fields = {k: render_text(v, scope, where) for k, v in seq.rendered().items()}
    try:
        start = int(fields.get("start", "0") or 0)
        if "count" in fields:
            count = int(fields["count"])
            values = list(range(start, start + count))
        elif "end" in fields:
            end = int(fields["end"])
            step = 1 if end >= start else -1
            values = list(range(start, end + step, step))
        else:
            raise StepError(f"{where}: with_sequence needs count or end")
    except ValueError as exc:
        raise StepError(f"{where}: with_sequence has a non-integer bound ({exc})") from None
    fmt = fields.get("format")
    if fmt:
        return [_printf(fmt, v) for v in values]
    return [str(v) for v in values]


def _printf(fmt: str, v: int) -> str:
    try:
        return fmt % v
    except TypeError:
        return fmt % float(v)


def item_label(index: int, item: Any) -> str:
    """Argo's display of a loop item: ``name(0:a)``, ``name(1:a:1,b:2)``."""
    if isinstance(item, dict):
        text = ",".join(f"{k}:{_scalar(v)}" for k, v in item.items())
    else:
        text = _scalar(item)
    return f"{index}:{text}"[:80]


def _scalar(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"))


_ART_REF = re.compile(
    r"^\{\{\s*(?:(steps|tasks)\.([^.]+)\.outputs\.artifacts\.([-\w]+)|inputs\.artifacts\.([-\w]+)"
    r"|workflow\.outputs\.artifacts\.([-\w]+))\s*\}\}(/.*)?$"
)


def parse_artifact_ref(text: str) -> tuple[str, str, str, str | None] | None:
    """``{{steps.a.outputs.artifacts.x}}/sub`` -> (kind, step, name, sub_path)."""
    m = _ART_REF.match(text.strip())
    if not m:
        return None
    sub = m.group(6)
    sub = sub.lstrip("/") if sub else None
    if m.group(1):
        return m.group(1), m.group(2), m.group(3), sub
    if m.group(4):
        return "inputs", "", m.group(4), sub
    return "workflow", "", m.group(5), sub


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
            text = render_value(value)
            # whether the text needs rendering is decided once: every item of a fan-out
            # would otherwise scan the whole list text (quadratic in the item count)
            cached = (value, text, needs_render(text))
            self._text[id(p)] = cached
        return render_text(cached[1], scope, where) if cached[2] else cached[1]

    def parsed_list(self, text: str) -> list:
        # one parse per distinct list text, shared by every slice of a fan-out
        cached = self._list.get(id(text))
        if cached is None or cached[0] is not text:
            from dflow.runner.inputs import flatten_stacked

            cached = (text, flatten_stacked(load_value(text, list)))
            self._list[id(text)] = cached
        return cached[1]


def env_strings(tmpl: Any) -> dict[str, str]:
    """The template's ``envs`` as strings (a Secret or other value object by its value)."""
    env = {}
    for k, v in (getattr(tmpl, "envs", None) or {}).items():
        env[k] = v.value if hasattr(v, "value") and not isinstance(v, str) else str(v)
    return {k: str(v) for k, v in env.items() if v is not None}


def package_paths(tmpl: Any) -> list[str]:
    """The dirs to put on ``sys.path`` for the template's ``python_packages``."""
    out = []
    for p in getattr(tmpl, "python_packages", None) or []:
        p = os.path.abspath(p)
        out.append(os.path.dirname(p.rstrip("/")))
    return out

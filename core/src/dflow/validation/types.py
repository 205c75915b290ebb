"""Parameter types across steps: what a reference will hold, and whether an input takes it.

The verdict is ``"ok"``, ``"unsure"`` (a warning: it depends on values known at run time,
such as a ``str`` output that may hold the JSON of an int) or ``"error"`` (it cannot work).
A reference's type is *stacked* (a list) when its step fans out (``with_param``,
``with_sequence``, ``Slices(sub_path=True)``) or is a Steps/DAG whose output comes from such a
step; a sliced input takes the list of its items.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from ..model.io import OutputParameter

OK, UNSURE, ERROR = "ok", "unsure", "error"
_RANK = {OK: 0, UNSURE: 1, ERROR: 2}


class Stacked:
    """The type of a fan-out's output: a list of ``item`` (None: items of unknown type)."""

    def __init__(self, item: Any) -> None:
        self.item = item

    def __repr__(self) -> str:
        return f"list of {label(self.item)}" if self.item is not None else "list"


def label(t: Any) -> str:
    """A type as users write it: ``int``, ``List[int]``, ``list of int``."""
    if isinstance(t, Stacked):
        return repr(t)
    return (
        t.__name__
        if isinstance(t, type) and not typing.get_args(t)
        else (str(t).replace("typing.", ""))
    )


def fans_out(step: Any) -> bool:
    """Whether ``step`` runs once per item (its outputs then arrive as lists)."""
    if step.with_param is not None or step.with_sequence is not None:
        return True
    slices = getattr(step.template, "slices", None)
    return bool(getattr(slices, "sub_path", False))


def produced_type(out: OutputParameter, depth: int = 0) -> Any:
    """What the output parameter ``out`` of a step will hold, downstream (None: unknown)."""
    step = out.step
    base = out.type
    inner = _template_output(step, out.name) if step is not None and depth < 20 else None
    if base is None and inner is not None:
        base = produced_type(inner, depth + 1)
    elif isinstance(inner, OutputParameter) and inner.step is not None and fans_out(inner.step):
        base = Stacked(base)  # declared as the item type, filled from an inner fan-out
    if step is not None and fans_out(step):
        return Stacked(base)
    return base


def _template_output(step: Any, name: str | None) -> OutputParameter | None:
    """The inner step output a Steps/DAG template's output ``name`` comes from, if any."""
    outs = getattr(step.template, "outputs", None)
    declared = outs.parameters.get(name) if outs is not None and name else None
    source = getattr(declared, "value_from_parameter", None)
    return source if isinstance(source, OutputParameter) and source.step is not None else None


def _is_any(t: Any) -> bool:
    return t is None or t is typing.Any or t is object


def _origin(t: Any) -> Any:
    origin = typing.get_origin(t) or t
    return typing.Union if origin is types.UnionType else origin  # int | None is a Union


def verdict(produced: Any, expected: Any) -> str:
    """Whether an input typed ``expected`` takes a value of type ``produced``."""
    if _is_any(produced) or _is_any(expected):
        return OK
    if isinstance(expected, Stacked):
        if isinstance(produced, Stacked):
            return verdict(produced.item, expected.item)
        return verdict(produced, list)
    if isinstance(produced, Stacked):
        if expected is str:
            return OK  # the list arrives as its JSON text
        return verdict(list, expected)
    if _origin(expected) is typing.Union:
        return min((verdict(produced, m) for m in typing.get_args(expected)), key=_RANK.__getitem__)
    if _origin(produced) is typing.Union:
        found = {verdict(m, expected) for m in typing.get_args(produced)}
        return found.pop() if len(found) == 1 else UNSURE
    p, e = _origin(produced), _origin(expected)
    if not (isinstance(p, type) and isinstance(e, type)):
        return OK  # TypeVar, Literal, NewType...: decided at run time
    if issubclass(p, e) or e is str or (e is float and p is int):
        return OK  # any value arrives as text to a str input
    if p is str:
        return UNSURE  # text: right if it holds the JSON of the expected type
    return ERROR

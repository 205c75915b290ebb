"""Expression helpers for loops: ``argo_range``, ``argo_sequence``, ``argo_len`` and friends.

Each returns an :class:`ArgoVar` whose expr-lang text both engines evaluate.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..serialization import dump_value
from .io import ArgoVar, InputArtifact, OutputArtifact, _IOBase, to_expr


def _int_term(value: Any) -> str:
    # parameter values are strings in scope: convert them; computed expressions are numbers
    if isinstance(value, _IOBase):
        return f"sprig.atoi({value.expr})"
    if isinstance(value, ArgoVar):
        return value.expr
    return str(int(value))


class ArgoRange(ArgoVar):
    """``argo_range(end)``, ``(start, end)`` or ``(start, end, step)``: a JSON list of ints."""

    def __init__(self, *args: Any) -> None:
        if not 1 <= len(args) <= 3:
            raise TypeError(f"argo_range takes 1 to 3 arguments, got {len(args)}")
        start, end, step = (0, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
        self.args = (start, end, step)
        super().__init__(
            f"toJson(sprig.untilStep({_int_term(start)}, {_int_term(end)}, {_int_term(step)}))"
        )

    def static_items(self) -> list[int] | None:
        """The items when every bound is a literal (for validation)."""
        if any(isinstance(a, ArgoVar) for a in self.args):
            return None
        start, end, step = (int(a) for a in self.args)
        return list(range(start, end, step))


def argo_range(*args: Any) -> ArgoRange:
    """Items ``range(start, end, step)`` for ``with_param``; bounds may be parameters."""
    return ArgoRange(*args)


@attrs.define
class ArgoSequence:
    """An Argo ``withSequence``: ``count`` or ``end``, from ``start``, formatted by ``format``."""

    count: Any = None
    start: Any = None
    end: Any = None
    format: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.count is not None and self.end is not None:
            raise ValueError("argo_sequence: give either count or end, not both")

    def rendered(self) -> dict[str, str]:
        """Field -> Argo text (``{{=expr}}`` for expressions)."""
        out = {}
        for field in ("count", "start", "end", "format"):
            v = getattr(self, field)
            if v is not None:
                out[field] = str(v) if isinstance(v, ArgoVar) else dump_value(v)
        return out


def argo_sequence(count: Any = None, start: Any = None, end: Any = None, format: str | None = None):
    """A numeric sequence for ``with_sequence``."""
    return ArgoSequence(count=count, start=start, end=end, format=format)


class ArgoLen(ArgoVar):
    """The length of a list parameter (or of an artifact's catalog, when known)."""

    def __init__(self, param: Any) -> None:
        self.param = param
        if isinstance(param, list | tuple):
            self.static: int | None = len(param)
            super().__init__(str(len(param)))
        elif isinstance(param, ArgoConcat):
            self.static = None
            super().__init__(f"sum(map(sprig.fromJson({param.param.expr}), {{len(#)}}))")
        elif isinstance(param, InputArtifact | OutputArtifact):
            self.static = None
            # the engines expose an artifact's catalog length as <art>.length (see docs)
            super().__init__(f"len(sprig.fromJson({param.expr}_path_list))")
        else:
            self.static = None
            super().__init__(f"len(sprig.fromJson({to_expr(param)}))")


def argo_len(param: Any) -> ArgoLen:
    """``len`` of a list parameter: ``argo_range(argo_len(p))``."""
    return ArgoLen(param)


class ArgoSum(ArgoVar):
    """The sum of a list of numbers in a parameter."""

    def __init__(self, param: Any) -> None:
        self.param = param
        super().__init__(f"int(sum(map(sprig.fromJson({to_expr(param)}), {{asFloat(#)}})))")


def argo_sum(param: Any) -> ArgoSum:
    """Sum of a list parameter, for ``argo_range(argo_sum(p))`` / ``argo_sequence(count=...)``."""
    return ArgoSum(param)


class ArgoConcat(ArgoVar):
    """The concatenation of a list of lists in a parameter."""

    def __init__(self, param: Any) -> None:
        self.param = param
        super().__init__(f"toJson(flatten(sprig.fromJson({to_expr(param)})))")


def argo_concat(param: Any) -> ArgoConcat:
    """Concatenate a list of lists: ``argo_len(argo_concat(p))``."""
    return ArgoConcat(param)


class ArgoEnumerate(ArgoVar):
    """A JSON list of ``{"order": i, name: value[i]}`` over equal-length lists.

    Lists given by position are named as pydflow names them: ``value`` for one,
    ``value0``, ``value1``... for several. Lists of different lengths are an error: at once
    for literal lists; at run time, for lists that are references, the expression gives a
    message instead of a list, which both engines report as a with_param that is not a list.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        named = dict(kwargs)
        if len(args) == 1:
            named["value"] = args[0]
        else:
            named.update({f"value{i}": a for i, a in enumerate(args)})
        if not named:
            raise TypeError("argo_enumerate needs at least one list")
        literal = {k: len(v) for k, v in named.items() if isinstance(v, list | tuple)}
        if len(set(literal.values())) > 1:
            listed = ", ".join(f"'{k}' has {n}" for k, n in literal.items())
            raise ValueError(f"argo_enumerate: the lists differ in length ({listed})")
        self.lists = named
        lengths = [f"len(sprig.fromJson({_json_text(v)}))" for v in named.values()]
        fields = ", ".join(f"'{k}': jsonpath({_json_text(v)}, '$')[#]" for k, v in named.items())
        expr = f"toJson(map(sprig.untilStep(0, {lengths[0]}, 1), {{{{'order': #, {fields}}}}}))"
        if len(named) > len(literal) and len(named) > 1:
            same = " && ".join(f"{lengths[0]} == {n}" for n in lengths[1:])
            message = f"argo_enumerate: the lists {', '.join(named)} differ in length"
            expr = f"(({same}) ? {expr} : {to_expr(message)})"
        super().__init__(expr)


def _json_text(v: Any) -> str:
    if isinstance(v, ArgoVar):
        return v.expr
    return to_expr(dump_value(v))


def argo_enumerate(*args: Any, **kwargs: Any) -> ArgoEnumerate:
    """Enumerate lists for ``with_param``: items ``{"order": i, "a": a[i], ...}``."""
    return ArgoEnumerate(*args, **kwargs)

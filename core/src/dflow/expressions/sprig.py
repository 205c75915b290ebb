"""The ``sprig.X`` namespace: the Sprig v3 functions plausible in workflow expressions.

Sprig's conversions are forgiving, as in Go: ``atoi``/``int``/``int64``/``float64`` turn
unparseable text into 0, ``fromJson`` turns invalid JSON into nil. Argument order is
Sprig's (the subject comes last): ``sprig.replace(old, new, s)``, ``sprig.trimAll(cut, s)``,
``sprig.default(fallback, value)``. Provided: see ``SPRIG`` at the bottom of this module.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import Problem
from .functions import FUNCTIONS, to_json_indent
from .values import go_json, go_sprint, go_type, is_number, parse_json

_DECIMAL = re.compile(r"[+-]?\d+\Z")
_OCTAL = re.compile(r"[+-]?0[0-7]+\Z")


def _trim_zero_decimal(text: str) -> str:
    """cast's trimZeroDecimal: "3.00" -> "3", "3.5" unchanged."""
    head, dot, tail = text.partition(".")
    if dot and tail and set(tail) == {"0"}:
        return head
    return text


def to_int64(value: Any) -> int:
    """cast.ToInt64 as Sprig uses it: never fails, unparseable input gives 0."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if is_number(value):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return 0
        return int(value)
    if isinstance(value, str):
        text = _trim_zero_decimal(value)
        if text != text.strip():
            return 0
        try:
            if _OCTAL.match(text):
                return int(text, 8)  # Go's base-0 parsing reads a leading 0 as octal
            return int(text, 0)
        except ValueError:
            return 0
    return 0


def to_float64(value: Any) -> float:
    """cast.ToFloat64: never fails, unparseable input gives 0."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value) if value == value.strip() and "_" not in value else 0.0
        except ValueError:
            return 0.0
    return 0.0


def _atoi(value: Any) -> int:
    return int(value) if isinstance(value, str) and _DECIMAL.match(value) else 0


def _as_int(name: str, value: Any) -> int:
    """A Go ``int`` parameter: ints, or floats without a fraction."""
    if is_number(value) and float(value).is_integer():
        return int(value)
    raise Problem(f"sprig.{name}: cannot use {go_sprint(value)} ({go_type(value)}) as int")


def until_step(start: Any, stop: Any, step: Any) -> list[int]:
    start, stop, step = (_as_int("untilStep", v) for v in (start, stop, step))
    if (stop < start and step >= 0) or (stop >= start and step <= 0):
        return []
    return list(range(start, stop, step))


def _until(count: Any) -> list[int]:
    count = _as_int("until", count)
    return until_step(0, count, -1 if count < 0 else 1)


def _seq(*params: Any) -> str:
    values = [_as_int("seq", p) for p in params]
    if not values:
        return ""
    if len(values) == 1:
        start, end, step = 1, values[0], 1 if values[0] >= 1 else -1
        items = until_step(start, end + step, step)
    elif len(values) == 2:
        start, end = values
        step = 1 if end >= start else -1
        items = until_step(start, end + step, step)
    else:
        start, step, end = values[:3]
        increment = 1
        if end < start:
            increment = -1
            if step > 0:
                return ""
        items = until_step(start, end + increment, step)
    return " ".join(str(i) for i in items)


def _div(a: Any, b: Any) -> int:
    a, b = to_int64(a), to_int64(b)
    if b == 0:
        raise Problem("sprig.div: integer divide by zero")
    quotient = abs(a) // abs(b)  # Go truncates toward zero
    return quotient if (a < 0) == (b < 0) else -quotient


def _mod(a: Any, b: Any) -> int:
    a, b = to_int64(a), to_int64(b)
    if b == 0:
        raise Problem("sprig.mod: integer divide by zero")
    remainder = abs(a) % abs(b)
    return -remainder if a < 0 else remainder


def _list(value: Any, name: str) -> list:
    if isinstance(value, list | tuple):
        return list(value)
    raise Problem(f"sprig.{name}: cannot find {name} on type {go_type(value)}")


def empty(value: Any) -> bool:
    """Sprig's ``empty``: nil, false, 0, "" and empty collections are empty."""
    if value is None:
        return True
    if isinstance(value, bool):
        return not value
    if is_number(value):
        return value == 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) == 0
    return False


def _default(fallback: Any, *given: Any) -> Any:
    if not given or empty(given[0]):
        return fallback
    return given[0]


def _to_string(value: Any) -> str:
    return value if isinstance(value, str) else go_sprint(value)


def _str_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [_to_string(v) for v in value if v is not None]
    return [_to_string(value)]


def _from_json(text: Any) -> Any:
    try:
        return parse_json(text) if isinstance(text, str) else None
    except ValueError:
        return None  # Sprig swallows the error


def _must_from_json(text: Any) -> Any:
    try:
        return parse_json(text)
    except (ValueError, TypeError) as exc:
        raise Problem(f"sprig.mustFromJson: {exc}")


def _go_replacement(repl: str) -> str:
    """Go's ``$1``/``${name}`` replacement syntax to Python's ``\\g<1>``."""
    repl = repl.replace("\\", "\\\\")
    return re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda m: f"\\g<{m.group(1) or m.group(2)}>", repl)


def _regex(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise Problem(f"invalid regular expression {pattern!r}: {exc}")


def _quote(*values: Any, char: str = '"') -> str:
    quoted = []
    for value in values:
        if value is None:
            continue
        text = _to_string(value)
        quoted.append(go_json(text) if char == '"' else f"'{text}'")
    return " ".join(quoted)


def _b64dec(text: Any) -> str:
    try:
        return base64.b64decode(str(text), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        return str(exc)


def _dict(*pairs: Any) -> dict:
    if len(pairs) % 2:
        pairs = (*pairs, "")
    return {_to_string(pairs[i]): pairs[i + 1] for i in range(0, len(pairs), 2)}


def _substr(start: Any, end: Any, text: Any) -> str:
    start, end, text = to_int64(start), to_int64(end), _to_string(text)
    if start < 0:
        return text[:end]
    if end < 0 or end > len(text):
        return text[start:]
    return text[start:end]


def _trunc(count: Any, text: Any) -> str:
    count, text = to_int64(count), _to_string(text)
    if count < 0 and len(text) + count > 0:
        return text[len(text) + count :]
    if count >= 0 and len(text) > count:
        return text[:count]
    return text


def _uniq(items: Any) -> list:
    out: list = []
    for item in _list(items, "uniq"):
        if item not in out:
            out.append(item)
    return out


class SprigNamespace:
    """The value of the ``sprig`` variable: member access yields Sprig functions."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]]) -> None:
        self.functions = dict(functions)

    def get(self, name: Any, pos: int | None = None) -> Callable[..., Any]:
        if name in self.functions:
            return self.functions[name]
        hint = f"; did you mean {name}() without 'sprig.'?" if name in FUNCTIONS else ""
        raise Problem(f"unknown sprig function {go_sprint(name)!r}{hint}", pos)

    def __repr__(self) -> str:
        return "<sprig functions>"


SPRIG = SprigNamespace(
    {
        # numbers and conversions
        "atoi": _atoi,
        "int": to_int64,
        "int64": to_int64,
        "float64": to_float64,
        "toString": _to_string,
        "toStrings": _str_list,
        "add": lambda *vs: sum(to_int64(v) for v in vs),
        "add1": lambda v: to_int64(v) + 1,
        "sub": lambda a, b: to_int64(a) - to_int64(b),
        "mul": lambda a, *vs: math.prod([to_int64(a), *(to_int64(v) for v in vs)]),
        "div": _div,
        "mod": _mod,
        "max": lambda a, *vs: max(to_int64(v) for v in (a, *vs)),
        "min": lambda a, *vs: min(to_int64(v) for v in (a, *vs)),
        "addf": lambda *vs: sum(to_float64(v) for v in vs),
        "subf": lambda a, *vs: to_float64(a) - sum(to_float64(v) for v in vs),
        "mulf": lambda a, *vs: math.prod([to_float64(a), *(to_float64(v) for v in vs)]),
        "divf": lambda a, b: to_float64(a) / to_float64(b),
        "maxf": lambda a, *vs: max(to_float64(v) for v in (a, *vs)),
        "minf": lambda a, *vs: min(to_float64(v) for v in (a, *vs)),
        "floor": lambda v: float(math.floor(to_float64(v))),
        "ceil": lambda v: float(math.ceil(to_float64(v))),
        "until": _until,
        "untilStep": until_step,
        "seq": _seq,
        # strings
        "trim": lambda s: _to_string(s).strip(),
        "trimAll": lambda cut, s: _to_string(s).strip(_to_string(cut)),
        "trimPrefix": lambda p, s: _to_string(s).removeprefix(_to_string(p)),
        "trimSuffix": lambda p, s: _to_string(s).removesuffix(_to_string(p)),
        "upper": lambda s: _to_string(s).upper(),
        "lower": lambda s: _to_string(s).lower(),
        "title": lambda s: re.sub(r"\b\w", lambda m: m.group().upper(), _to_string(s)),
        "replace": lambda old, new, s: _to_string(s).replace(_to_string(old), _to_string(new)),
        "split": lambda sep, s: {f"_{i}": p for i, p in enumerate(_to_string(s).split(sep))},
        "splitList": lambda sep, s: _to_string(s).split(sep) if sep else list(_to_string(s)),
        "join": lambda sep, v: _to_string(sep).join(_str_list(v)),
        "contains": lambda sub, s: _to_string(sub) in _to_string(s),
        "hasPrefix": lambda p, s: _to_string(s).startswith(_to_string(p)),
        "hasSuffix": lambda p, s: _to_string(s).endswith(_to_string(p)),
        "repeat": lambda n, s: _to_string(s) * max(to_int64(n), 0),
        "substr": _substr,
        "trunc": _trunc,
        "nospace": lambda s: re.sub(r"\s", "", _to_string(s)),
        "cat": lambda *vs: " ".join(_to_string(v) for v in vs if v is not None),
        "quote": _quote,
        "squote": lambda *vs: _quote(*vs, char="'"),
        "indent": lambda n, s: "\n".join(
            " " * to_int64(n) + line for line in _to_string(s).split("\n")
        ),
        "regexMatch": lambda rx, s: _regex(rx).search(_to_string(s)) is not None,
        "regexFind": lambda rx, s: m.group() if (m := _regex(rx).search(_to_string(s))) else "",
        "regexFindAll": lambda rx, s, n=-1: [m.group() for m in _regex(rx).finditer(_to_string(s))][
            : None if to_int64(n) < 0 else to_int64(n)
        ],
        "regexReplaceAll": lambda rx, s, r: _regex(rx).sub(
            _go_replacement(_to_string(r)), _to_string(s)
        ),
        "regexReplaceAllLiteral": lambda rx, s, r: _regex(rx).sub(
            lambda _: _to_string(r), _to_string(s)
        ),
        "regexSplit": lambda rx, s, n=-1: (
            _regex(rx).split(_to_string(s), max(to_int64(n) - 1, 0)) if to_int64(n) != 0 else []
        ),
        "b64enc": lambda s: base64.b64encode(_to_string(s).encode()).decode(),
        "b64dec": _b64dec,
        "sha256sum": lambda s: hashlib.sha256(_to_string(s).encode()).hexdigest(),
        "sha1sum": lambda s: hashlib.sha1(_to_string(s).encode()).hexdigest(),
        # lists
        "list": lambda *vs: list(vs),
        "first": lambda v: (_list(v, "first") or [None])[0],
        "last": lambda v: (_list(v, "last") or [None])[-1],
        "rest": lambda v: _list(v, "rest")[1:],
        "initial": lambda v: _list(v, "initial")[:-1],
        "append": lambda v, x: [*_list(v, "append"), x],
        "push": lambda v, x: [*_list(v, "push"), x],
        "prepend": lambda v, x: [x, *_list(v, "prepend")],
        "concat": lambda *vs: [x for v in vs for x in _list(v, "concat")],
        "reverse": lambda v: _list(v, "reverse")[::-1],
        "uniq": _uniq,
        "compact": lambda v: [x for x in _list(v, "compact") if not empty(x)],
        "has": lambda needle, v: needle in _list(v, "has"),
        "without": lambda v, *xs: [x for x in _list(v, "without") if x not in xs],
        "slice": lambda v, start=0, end=None: _list(v, "slice")[
            to_int64(start) : None if end is None else to_int64(end)
        ],
        # dicts
        "dict": _dict,
        "get": lambda d, k: d.get(k, "") if isinstance(d, Mapping) else "",
        "hasKey": lambda d, k: isinstance(d, Mapping) and k in d,
        "keys": lambda *ds: sorted(k for d in ds for k in d),
        "values": lambda d: [d[k] for k in sorted(d)],
        "pick": lambda d, *ks: {k: d[k] for k in ks if k in d},
        "omit": lambda d, *ks: {k: v for k, v in d.items() if k not in ks},
        # flow and JSON
        "default": _default,
        "empty": empty,
        "coalesce": lambda *vs: next((v for v in vs if not empty(v)), None),
        "ternary": lambda vt, vf, cond: vt if cond is True else vf,
        "fromJson": _from_json,
        "mustFromJson": _must_from_json,
        "toJson": lambda value: go_json(value),
        "mustToJson": lambda value: go_json(value),
        "toRawJson": lambda v: go_json(v, escape_html=False),
        "toPrettyJson": to_json_indent,
    }
)

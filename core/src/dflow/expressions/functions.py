"""Plain functions callable from expressions: expr builtins and Argo's additions.

Argo adds ``asInt`` (expr's ``int``), ``asFloat`` (expr's ``float``), ``toJson`` (compact
Go JSON), ``jsonpath(jsonString, path)`` and the ``sprig`` namespace (see sprig.py).
The closure builtins (map, filter, ...) live in predicates.py. Deliberately absent: the
date functions (``now``, ``date``, ``duration``), which depend on the controller's clock.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import Problem
from .jsonpath import query as jsonpath_query
from .values import deep_equal, go_json, go_sprint, go_type, is_number, parse_json, to_int

_ATOI = re.compile(r"[+-]?\d+\Z")
_PARSE_FLOAT = re.compile(
    r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity|nan)\Z", re.I
)


def call_function(name: str, func: Callable, args: list, pos: int) -> Any:
    """Call ``func`` and turn any failure into a Problem that names the function."""
    try:
        return func(*args)
    except Problem as exc:
        if exc.position is None:
            exc.position = pos
        raise
    except TypeError as exc:
        try:
            inspect.signature(func).bind(*args)
        except TypeError:
            raise Problem(f"invalid number of arguments for {name} (got {len(args)})", pos)
        except ValueError:  # builtins without a signature
            pass
        raise Problem(f"{name}: {exc}", pos)
    except (ValueError, ZeroDivisionError, OverflowError, KeyError, IndexError) as exc:
        raise Problem(f"{name}: {exc}", pos)


def expr_int(value: Any) -> int:
    """expr's ``int`` (Argo's ``asInt``): numbers truncate, strings must be whole numbers."""
    if isinstance(value, str):
        if not _ATOI.match(value):
            raise Problem(f"invalid operation: int({value})")
        return int(value)
    if is_number(value):
        return to_int(value)
    raise Problem(f"invalid operation: int({go_type(value)})")


def expr_float(value: Any) -> float:
    """expr's ``float`` (Argo's ``asFloat``)."""
    if isinstance(value, str):
        if not _PARSE_FLOAT.match(value):
            raise Problem(f"invalid operation: float({value})")
        return float(value)
    if is_number(value):
        return float(value)
    raise Problem(f"invalid operation: float({go_type(value)})")


def _len(value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise Problem(f"invalid argument for len (type {go_type(value)})")


def _type(value: Any) -> str:
    names = {
        "<nil>": "nil",
        "float64": "float",
        "[]interface {}": "array",
        "map[string]interface {}": "map",
    }
    return names.get(go_type(value), go_type(value))


def _number(name: str, value: Any) -> int | float:
    if not is_number(value):
        raise Problem(f"invalid argument for {name} (type {go_type(value)})")
    return value


def _round(value: Any) -> float:
    number = float(_number("round", value))
    if math.isinf(number) or math.isnan(number):
        return number
    return math.copysign(math.floor(abs(number) + 0.5), number)


def _flatten_numbers(name: str, args: tuple) -> list:
    out: list = []
    for arg in args:
        if isinstance(arg, list | tuple):
            out.extend(_flatten_numbers(name, tuple(arg)))
        else:
            out.append(_number(name, arg))
    return out


def _min_max(name: str, pick: Callable) -> Callable:
    def run(*args: Any) -> Any:
        if len(args) == 1 and not isinstance(args[0], list | tuple) and not is_number(args[0]):
            return args[0]
        values = _flatten_numbers(name, args)
        return pick(values) if values else None

    return run


def _mean(*args: Any) -> float:
    values = _flatten_numbers("mean", args)
    return sum(values) / len(values) if values else 0.0


def _median(*args: Any) -> float:
    values = sorted(float(v) for v in _flatten_numbers("median", args))
    if not values:
        return 0.0
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _string_arg(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise Problem(f"{name}: cannot use {go_type(value)} as string")
    return value


def _trim(text: Any, chars: Any = None) -> str:
    text = _string_arg("trim", text)
    return text.strip() if chars is None else text.strip(_string_arg("trim", chars))


def _split(text: Any, sep: Any, count: Any = -1, after: bool = False) -> list:
    text, sep, count = _string_arg("split", text), _string_arg("split", sep), to_int(count)
    if count == 0:
        return []
    if sep == "":
        parts = list(text)
        if 0 < count < len(parts):
            parts = parts[: count - 1] + ["".join(parts[count - 1 :])]
        return parts
    parts = text.split(sep, count - 1 if count > 0 else -1)
    if after:
        parts = [p + sep for p in parts[:-1]] + parts[-1:]
    return parts


def _join(items: Any, glue: Any = "") -> str:
    if not isinstance(items, list | tuple):
        raise Problem(f"invalid argument for join (type {go_type(items)})")
    for item in items:
        if not isinstance(item, str):
            raise Problem(f"join: cannot use {go_type(item)} as string")
    return _string_arg("join", glue).join(items)


def to_json_indent(value: Any, indent: str = "") -> str:
    inner = indent + "  "
    if isinstance(value, list | tuple) and value:
        body = ",\n".join(inner + to_json_indent(v, inner) for v in value)
        return "[\n" + body + "\n" + indent + "]"
    if isinstance(value, Mapping) and value:
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        body = ",\n".join(f"{inner}{go_json(str(k))}: {to_json_indent(v, inner)}" for k, v in items)
        return "{\n" + body + "\n" + indent + "}"
    return go_json(value)


def _from_json(text: Any) -> Any:
    try:
        return parse_json(_string_arg("fromJSON", text))
    except json.JSONDecodeError as exc:
        raise Problem(f"fromJSON: invalid JSON: {exc.msg} at character {exc.pos}")


def _from_base64(text: Any) -> str:
    try:
        return base64.b64decode(_string_arg("fromBase64", text), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Problem(f"fromBase64: {exc}")


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list | tuple | str) and value else None


def _last(value: Any) -> Any:
    return value[-1] if isinstance(value, list | tuple | str) and value else None


def _get(value: Any, key: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(value, list | tuple) and is_number(key):
        index = to_int(key)
        return value[index] if -len(value) <= index < len(value) else None
    return None


def _keys(value: Any) -> list:
    if not isinstance(value, Mapping):
        raise Problem(f"cannot get keys from {go_type(value)}")
    return sorted(value)  # Go maps are unordered; sorted keeps results reproducible


def _values(value: Any) -> list:
    return [value[k] for k in _keys(value)]


def _sort(items: Any, order: Any = "asc") -> list:
    if not isinstance(items, list | tuple):
        raise Problem(f"sort: cannot sort {go_type(items)}")
    if order not in ("asc", "desc"):
        raise Problem(f"sort: unknown order {order!r}, use asc or desc")
    try:
        return sorted(items, reverse=order == "desc")
    except TypeError:
        raise Problem("sort: elements must be all numbers or all strings")


def _uniq(items: Any) -> list:
    out: list = []
    for item in items:
        if not any(deep_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _flatten(items: Any) -> list:
    out: list = []
    for item in items:
        out.extend(_flatten(item) if isinstance(item, list | tuple) else [item])
    return out


def _jsonpath(document: Any, path: Any) -> Any:
    try:
        data = parse_json(_string_arg("jsonpath", document))
    except json.JSONDecodeError as exc:
        raise Problem(f"jsonpath: invalid JSON document: {exc.msg} at character {exc.pos}")
    return jsonpath_query(data, _string_arg("jsonpath", path))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    # Argo's additions
    "asInt": expr_int,
    "asFloat": expr_float,
    "toJson": lambda value: go_json(value),
    "jsonpath": _jsonpath,
    # expr builtins
    "len": _len,
    "type": _type,
    "abs": lambda x: abs(_number("abs", x)),
    "ceil": lambda x: float(math.ceil(_number("ceil", x))),
    "floor": lambda x: float(math.floor(_number("floor", x))),
    "round": _round,
    "int": expr_int,
    "float": expr_float,
    "string": go_sprint,
    "trim": _trim,
    "trimPrefix": lambda s, p=" ": _string_arg("trimPrefix", s).removeprefix(p),
    "trimSuffix": lambda s, p=" ": _string_arg("trimSuffix", s).removesuffix(p),
    "upper": lambda s: _string_arg("upper", s).upper(),
    "lower": lambda s: _string_arg("lower", s).lower(),
    "split": _split,
    "splitAfter": lambda s, sep, n=-1: _split(s, sep, n, after=True),
    "replace": lambda s, old, new, n=-1: _string_arg("replace", s).replace(old, new, to_int(n)),
    "repeat": lambda s, n: _string_arg("repeat", s) * max(to_int(n), 0),
    "join": _join,
    "indexOf": lambda s, sub: _string_arg("indexOf", s).find(sub),
    "lastIndexOf": lambda s, sub: _string_arg("lastIndexOf", s).rfind(sub),
    "hasPrefix": lambda s, p: _string_arg("hasPrefix", s).startswith(p),
    "hasSuffix": lambda s, p: _string_arg("hasSuffix", s).endswith(p),
    "max": _min_max("max", max),
    "min": _min_max("min", min),
    "mean": _mean,
    "median": _median,
    "toJSON": to_json_indent,
    "fromJSON": _from_json,
    "toBase64": lambda s: base64.b64encode(_string_arg("toBase64", s).encode()).decode(),
    "fromBase64": _from_base64,
    "first": _first,
    "last": _last,
    "get": _get,
    "take": lambda items, k: list(items[: max(to_int(k), 0)]),
    "keys": _keys,
    "values": _values,
    "toPairs": lambda m: [[k, m[k]] for k in _keys(m)],
    "fromPairs": lambda pairs: {p[0]: p[1] for p in pairs},
    "sort": _sort,
    "reverse": lambda items: list(items)[::-1],
    "uniq": _uniq,
    "concat": lambda *arrays: [x for a in arrays for x in a],
    "flatten": _flatten,
}

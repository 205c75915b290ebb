"""Value helpers that reproduce Go's view of expression values.

Argo evaluates expressions in Go, so the text a user sees follows Go's rules:

* ``json.Marshal`` (Argo's ``toJson`` and the rendering of ``{{=...}}`` results): compact,
  map keys sorted, ``<``, ``>`` and ``&`` escaped as ``\\u003c``..., integral floats without
  a fraction (``1`` not ``1.0``), exponent form only below 1e-6 or from 1e21 (``1e+21``).
* ``fmt.Sprintf("%v")`` (expr's ``string()``, sprig's ``toString``, govaluate string
  concatenation): floats in shortest ``%g`` form, which switches to an exponent from 1e6
  on (``1e+06``) and below 1e-4, lists as ``[1 2]``, maps as ``map[a:1 b:2]``, nil as
  ``<nil>``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def is_number(value: Any) -> bool:
    """True for int and float but not bool (bool is an int subclass in Python)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def go_type(value: Any) -> str:
    """The Go type name of a value as it would appear in expr's error messages."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if callable(value):
        return "func"
    return type(value).__name__


def _digits_and_exponent(value: float) -> tuple[str, int]:
    """Shortest round-trip digits of abs(value) and its decimal exponent (d.ddd x 10^exp)."""
    from decimal import Decimal  # by the first float rendered: 1 ms of every run's start

    _, digits, exp = Decimal(repr(abs(value))).as_tuple()
    if not isinstance(exp, int):  # 'n', 'N', 'F': callers handle nan and infinities first
        raise ValueError(f"{value!r} is not a finite number")
    text = "".join(map(str, digits)).rstrip("0") or "0"
    # as_tuple gives value = int(digits) * 10**exp; convert to scientific exponent.
    exponent = len(digits) + exp - 1
    return text, exponent


def _format_e(value: float) -> str:
    digits, exponent = _digits_and_exponent(value)
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    sign = "-" if value < 0 else ""
    return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _format_f(value: float) -> str:
    from decimal import Decimal

    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def go_float_json(value: float) -> str:
    """Format a float the way Go's encoding/json does."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"json: unsupported value: {go_sprint(value)}")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = _format_e(value)
        # encoding/json shortens e-07 to e-7 (but keeps e+21).
        if text[-4:-2] == "e-" and text[-2] == "0":
            text = text[:-2] + text[-1]
        return text
    return _format_f(value)


def go_float_v(value: float) -> str:
    """Format a float the way Go's fmt %v does (shortest %g, exponent from 1e+06)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    _, exponent = _digits_and_exponent(value)
    if exponent < -4 or exponent >= 6:
        return _format_e(value)
    return _format_f(value)


def go_sprint(value: Any) -> str:
    """fmt.Sprintf("%v", value) for JSON-like values."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float_v(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v)}" for k, v in items) + "]"
    return str(value)


_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _json_string(text: str, escape_html: bool = True) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    if not escape_html:
        return encoded
    for char, escape in _HTML_ESCAPES.items():
        if char in encoded:
            encoded = encoded.replace(char, escape)
    return encoded


def go_json(value: Any, escape_html: bool = True) -> str:
    """json.Marshal(value) for JSON-like values; raises ValueError for NaN/Inf or functions."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float_json(value)
    if isinstance(value, str):
        return _json_string(value, escape_html)
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(v, escape_html) for v in value) + "]"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return (
            "{"
            + ",".join(
                f"{_json_string(str(k), escape_html)}:{go_json(v, escape_html)}" for k, v in items
            )
            + "}"
        )
    raise ValueError(f"json: unsupported type: {go_type(value)}")


def parse_json(text: str) -> Any:
    """json.Unmarshal into interface{}: every number becomes a float64, as in Go."""
    return json.loads(text, parse_int=float)


def to_int(value: Any) -> int:
    """Go's runtime.ToInt: numbers truncate toward zero; anything else is an error."""
    if is_number(value):
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                raise TypeError(f"invalid operation: int({go_type(value)})")
            return int(value)
        return value
    raise TypeError(f"invalid operation: int({go_type(value)})")


def deep_equal(left: Any, right: Any) -> bool:
    """expr's runtime.Equal: numbers compare by value across int/float, others strictly."""
    if is_number(left) and is_number(right):
        return left == right
    if type(left) is not type(right):
        if isinstance(left, list | tuple) and isinstance(right, list | tuple):
            pass
        else:
            return False
    if isinstance(left, list | tuple):
        return len(left) == len(right) and all(
            deep_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(deep_equal(left[k], right[k]) for k in left)
    return left == right

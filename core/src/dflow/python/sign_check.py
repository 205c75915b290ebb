"""Check OP inputs and outputs against their signs, with messages that name what went wrong.

``OP Duplicate: input 'num' expects int, got str ('3')``
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import typecheck
from .errors import SignatureError
from .opio import (
    OPIO,
    Artifact,
    Parameter,
    artifact_has_hdf5,
    artifact_shape,
    sign_type,
    type_str,
)


def _value_str(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _got(value: Any) -> str:
    return f"{type(value).__name__} ({_value_str(value)})"


def _is_path(value: Any) -> bool:
    # str and Path are interchangeable for artifact paths: "bar.txt" and Path("bar.txt") mean
    # the same file, and OPs return both.
    return isinstance(value, (str, os.PathLike))


def _nested_ok(value: Any) -> bool:
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _nested_ok(v) for k, v in value.items())
    return value is None or _is_path(value)


def artifact_value_ok(value: Any, sign: Artifact) -> bool:
    """Whether ``value`` fits the artifact sign (paths may be str or Path)."""
    shape = artifact_shape(sign.type)
    if artifact_has_hdf5(sign.type) and isinstance(value, (list, tuple, Mapping)):
        return True  # values stored as HDF5 datasets
    if shape == "hdf5":
        return _is_path(value)
    if shape == "path":
        return _is_path(value)
    if shape in ("list", "set"):
        return isinstance(value, (list, tuple, set, frozenset)) and all(
            v is None or _is_path(v) for v in value
        )
    if shape == "dict":
        return isinstance(value, Mapping) and all(
            isinstance(k, str) and (v is None or _is_path(v)) for k, v in value.items()
        )
    if shape == "nested":
        return isinstance(value, Mapping) and _nested_ok(value)
    return False


# what typeguard accepts for each (PEP 484's numeric tower: an int is a float)
_BUILTIN_SCALARS: dict[Any, tuple[type, ...]] = {
    int: (int,),
    str: (str,),
    bool: (bool,),
    float: (float, int),
    complex: (complex, float, int),
    bytes: (bytes,),
    dict: (dict,),
    list: (list,),
}


def value_ok(value: Any, tp: Any) -> bool:
    """Whether a parameter value fits its declared type (typeguard's rules, every item of a
    list; see :mod:`dflow.python.typecheck`)."""
    if tp in _BUILTIN_SCALARS:  # the common case, without typeguard's machinery
        return isinstance(value, _BUILTIN_SCALARS[tp])
    return typecheck.value_ok(value, tp)


def _check(op_name: str, kind: str, name: str, sign: Any, value: Any) -> None:
    if isinstance(sign, Artifact):
        if value is None and sign.optional:
            return
        ok = artifact_value_ok(value, sign)
        what = f"{kind} artifact"
    else:
        ok = value_ok(value, sign_type(sign))
        what = kind
    if not ok:
        raise SignatureError(
            f"OP {op_name}: {what} '{name}' expects {type_str(sign_type(sign))}, got {_got(value)}"
        )


def check_inputs(op_name: str, sign: Mapping[str, Any], values: Mapping[str, Any]) -> OPIO:
    """The inputs with defaults filled in and absent optional artifacts as None.

    Raises ``SignatureError`` for an undeclared name, a missing required input or a wrong type.
    """
    return _check_all(op_name, "input", sign, values)


def check_outputs(
    op_name: str,
    sign: Mapping[str, Any],
    values: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> OPIO:
    """The outputs, checked like inputs; ``extra`` holds values given with ``set_output``."""
    if not isinstance(values, Mapping):
        raise SignatureError(
            f"OP {op_name}: execute must return an OPIO (a dict of outputs), got {_got(values)}"
        )
    merged = dict(extra or {})
    merged.update(values)
    return _check_all(op_name, "output", sign, merged)


def _check_all(op_name: str, kind: str, sign: Mapping[str, Any], values: Mapping[str, Any]) -> OPIO:
    unknown = [k for k in values if k not in sign]
    if unknown:
        declared = ", ".join(sign) or "none"
        raise SignatureError(
            f"OP {op_name}: {kind} '{unknown[0]}' is not declared in get_{kind}_sign "
            f"(declared: {declared})"
        )
    result = OPIO()
    for name, s in sign.items():
        if name in values:
            value = values[name]
        elif isinstance(s, Parameter) and s.has_default:
            # the author's own default passes even when it is outside the type (x: int = None)
            result[name] = s.default
            continue
        elif isinstance(s, Artifact) and s.optional:
            value = None
        else:
            where = "artifact " if isinstance(s, Artifact) else ""
            raise SignatureError(
                f"OP {op_name}: missing {kind} {where}'{name}' ({type_str(sign_type(s))})"
                + (" declared in get_output_sign" if kind == "output" else "")
            )
        _check(op_name, kind, name, s, value)
        result[name] = value
    return result

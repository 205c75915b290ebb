"""Parameter values as text: how a value travels through files, manifests and the journal.

A ``str`` is stored verbatim; every other value as jsonpickle (plain JSON for JSON-native
values, so Argo expressions can read lists and numbers). This is pydflow's convention, kept so
parameter files and manifests stay interchangeable.
"""

from __future__ import annotations

import json
from typing import Any

import jsonpickle


def _json_native(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list):
        return all(_json_native(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_native(v) for k, v in value.items())
    return False


def dump_value(value: Any, type_: Any = None) -> str:
    """The text form of a parameter value."""
    if isinstance(value, str) and type_ in (None, str):
        return value
    if _json_native(value):
        return json.dumps(value)
    return jsonpickle.dumps(value, keys=True)


def _has_pickle_tags(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k.startswith(("py/", "json://")) for k in value) or any(
            _has_pickle_tags(v) for v in value.values()
        )
    if isinstance(value, list):
        return any(_has_pickle_tags(v) for v in value)
    return False


def load_value(text: str, type_: Any = None) -> Any:
    """The value of a parameter text, decoded when its type says it is not a string."""
    if type_ in (None, str, "str", repr(str)):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text  # a plain word for a non-str type: the type check reports it
    if _has_pickle_tags(value):
        return jsonpickle.loads(text, keys=True)
    return value


def type_name(type_: Any) -> str | None:
    """A stable name for a sign type, recorded beside a value (``{"type": "int"}``)."""
    if type_ is None:
        return None
    if isinstance(type_, type) and type_.__module__ == "builtins":
        return type_.__name__
    return repr(type_)

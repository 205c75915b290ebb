"""Parameter values as text: how a value travels through files, manifests and the journal.

A ``str`` is stored verbatim; every other value as jsonpickle (plain JSON for JSON-native
values, so Argo expressions can read lists and numbers). This is pydflow's convention, kept so
parameter files and manifests stay interchangeable.
"""

from __future__ import annotations

from typing import Any

import jsonpickle


def dump_value(value: Any, type_: Any = None) -> str:
    """The text form of a parameter value."""
    if isinstance(value, str) and type_ in (None, str):
        return value
    return jsonpickle.dumps(value)


def load_value(text: str, type_: Any = None) -> Any:
    """The value of a parameter text, decoded when its type says it is not a string."""
    if type_ in (None, str, "str", repr(str)):
        return text
    try:
        return jsonpickle.loads(text)
    except Exception:  # a plain word for a non-str type: leave it to the type check to report
        return text


def type_name(type_: Any) -> str | None:
    """A stable name for a sign type, recorded beside a value (``{"type": "int"}``)."""
    if type_ is None:
        return None
    if isinstance(type_, type) and type_.__module__ == "builtins":
        return type_.__name__
    return repr(type_)

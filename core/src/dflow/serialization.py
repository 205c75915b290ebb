"""Parameter values as text: how a value travels through files, manifests and the journal.

A ``str`` is stored verbatim; every other value as jsonpickle (plain JSON for JSON-native
values, so Argo expressions can read lists and numbers). This is pydflow's convention, kept so
parameter files and manifests stay interchangeable.

Part of the pod runtime: jsonpickle is used when it imports (the client, modern images), and
plain-JSON values need nothing else. Without jsonpickle (an old image: jsonpickle 4 needs
Python 3.8), a value that needs it (a tuple, a set, an object...) is a clear error.
"""

from __future__ import annotations

import json
import sys
from typing import Any

#: the jsonpickle module, False where it does not import; None until a value needs it (its
#: import, with the package metadata and yaml it loads, was a sixth of ``import dflow``)
_jsonpickle: Any = None


def _pickler(what: str) -> Any:
    """jsonpickle, imported on first use; ``what`` names the value in the error without it."""
    global _jsonpickle
    if _jsonpickle is None:
        try:
            import jsonpickle

            _jsonpickle = jsonpickle
        except Exception:  # not installed, or it does not import on this Python
            _jsonpickle = False
    if _jsonpickle is False:
        raise _no_jsonpickle(what)
    return _jsonpickle


_JSON_SCALARS = (str, bool, int, float)


def _json_native(value: Any) -> bool:
    if value is None or isinstance(value, _JSON_SCALARS):
        return True
    if isinstance(value, list):
        return all(_json_native(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_native(v) for k, v in value.items())
    return False


def _no_jsonpickle(what: str) -> RuntimeError:
    return RuntimeError(
        f"{what} needs jsonpickle, which is not importable in this Python "
        f"({sys.version.split()[0]} at {sys.executable}): install jsonpickle in the image "
        "(pip install jsonpickle), or use plain JSON values (str, int, float, bool, None, "
        "lists and dicts of them)"
    )


def dump_value(value: Any, type_: Any = None) -> str:
    """The text form of a parameter value."""
    if isinstance(value, str) and type_ in (None, str):
        return value
    if _json_native(value):
        return json.dumps(value)
    what = f"a value of type {type(value).__name__} ({_short(value)})"
    return _pickler(what).dumps(value, keys=True)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
        return _pickler(f"the jsonpickle-encoded value {_short(text)}").loads(text, keys=True)
    return value


def type_name(type_: Any) -> str | None:
    """A stable name for a sign type, recorded beside a value (``{"type": "int"}``)."""
    if type_ is None:
        return None
    if isinstance(type_, type) and type_.__module__ == "builtins":
        return type_.__name__
    return repr(type_)

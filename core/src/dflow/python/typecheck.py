"""Does a parameter value fit its declared type? typeguard 4 when it imports, else the stdlib.

This module is part of the pod runtime (it runs on CPython 3.7+ with the standard library only).
In the client and in images with a working typeguard 4, ``value_ok`` asks typeguard (every item
of a collection checked). Where typeguard is missing, too old, or does not import on the pod's
Python (typeguard 4.6 needs 3.10 there), a small checker follows typeguard's rules for the
grammar OP signs use: builtins with PEP 484's numeric tower (an int is a float), ``Any``,
``Optional``/``Union``, ``List``/``Set``/``FrozenSet``/``Dict``/``Tuple`` (also their
``collections.abc`` forms), ``Literal``, ``Type``, ``Callable``, TypedDicts, ``NewType`` and plain
classes (``Path``, ``NestedDict[...]``...). An annotation it does not know is accepted, as
typeguard accepts annotations it cannot check.

It also holds the ``typing`` introspection the runtime needs (``get_origin``/``get_args``
arrived in 3.8, ``types.UnionType`` in 3.10, ``typing.is_typeddict`` in 3.10).
"""

from __future__ import annotations

import collections.abc as cabc
import sys
import types
import typing
from typing import Any, Union

#: typeguard 4's (check_type, CollectionCheckStrategy, TypeCheckError), or () where it does not
#: import; None until first asked: its import (with the unittest.mock and asyncio it loads) was
#: a fifth of ``from dflow.python import OP``, and most checks need no typeguard (``value_ok``)
_typeguard_api: tuple[Any, ...] | None = None


def _typeguard() -> tuple[Any, ...]:
    global _typeguard_api
    if _typeguard_api is None:
        try:  # typeguard 4's API; 2.x/3.x have another one, and 4.6 imports on 3.10+ only
            from typeguard import CollectionCheckStrategy, TypeCheckError, check_type

            _typeguard_api = (check_type, CollectionCheckStrategy, TypeCheckError)
        except Exception:  # not installed, an older API, a SyntaxError/ImportError here
            _typeguard_api = ()
    return _typeguard_api


def __getattr__(name: str) -> Any:
    if name == "BACKEND":  # which checker ``value_ok`` uses here: "typeguard" or "stdlib"
        return "typeguard" if _typeguard() else "stdlib"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_UNION_TYPES = tuple(t for t in (Union, getattr(types, "UnionType", None)) if t is not None)
_LITERAL = getattr(typing, "Literal", None)
_ANNOTATED = getattr(typing, "Annotated", None)


def get_origin(tp: Any) -> Any:
    """``typing.get_origin`` (3.8+), with the same answers on 3.7."""
    if hasattr(typing, "get_origin"):
        return typing.get_origin(tp)
    if isinstance(tp, typing._GenericAlias):  # type: ignore[attr-defined]  # 3.7 only
        return tp.__origin__
    if tp is typing.Generic:
        return typing.Generic
    return None


def get_args(tp: Any) -> tuple:
    """``typing.get_args`` (3.8+), with the same answers on 3.7; ``Tuple[()]`` gives ()."""
    if hasattr(typing, "get_args"):
        args = typing.get_args(tp)
    elif isinstance(tp, typing._GenericAlias) and not tp._special:  # type: ignore[attr-defined]
        args = tp.__args__
    else:
        args = ()
    return () if args == ((),) else args


def is_union(tp: Any) -> bool:
    """Whether ``tp`` is ``Union[...]``/``Optional[...]`` or ``A | B``."""
    return get_origin(tp) in _UNION_TYPES


def is_typeddict(tp: Any) -> bool:
    """Whether ``tp`` is a TypedDict class (typing's or typing_extensions')."""
    if hasattr(typing, "is_typeddict") and typing.is_typeddict(tp):
        return True
    return (
        isinstance(tp, type)
        and issubclass(tp, dict)
        and hasattr(tp, "__total__")
        and hasattr(tp, "__annotations__")
    )


def value_ok(value: Any, tp: Any) -> bool:
    """Whether ``value`` fits type ``tp`` (every item of a collection is checked)."""
    # a plain class (metaclass ``type``: no generic, Protocol, TypedDict, Enum or ABC) is one
    # isinstance with the numeric tower for both checkers: no need to import typeguard
    if type(tp) is type or not _typeguard():
        return stdlib_ok(value, tp)
    return typeguard_ok(value, tp)


def typeguard_ok(value: Any, tp: Any) -> bool:
    """typeguard's answer (an annotation it cannot check is accepted)."""
    api = _typeguard()
    assert api, "typeguard 4 is not importable here: use value_ok"
    check_type, strategy, check_error = api
    try:
        check_type(value, tp, collection_check_strategy=strategy.ALL_ITEMS)
    except check_error:
        return False
    except TypeError:
        return True
    return True


_NUMBERS = {
    float: (int, float),
    complex: (int, float, complex),
    bytes: (bytes, bytearray, memoryview),
}
# origins typeguard checks item by item; the others only with isinstance
_ITEMS = {
    list: "seq",
    tuple: "tuple",
    set: "set",
    frozenset: "set",
    cabc.Set: "set",
    cabc.MutableSet: "set",
    dict: "map",
    cabc.Mapping: "map",
    cabc.MutableMapping: "map",
    cabc.Sequence: "seq",
    cabc.MutableSequence: "seq",
}


def stdlib_ok(value: Any, tp: Any) -> bool:
    """The standard-library checker (see the module docstring)."""
    if tp is Any or tp is object:
        return True
    if tp is None or tp is type(None):
        return value is None
    if isinstance(tp, (str, typing.ForwardRef, typing.TypeVar)):
        return True  # forward references and type variables are not checked
    if tp in _NUMBERS:
        return isinstance(value, _NUMBERS[tp])
    supertype = getattr(tp, "__supertype__", None)  # NewType
    if supertype is not None:
        return stdlib_ok(value, supertype)
    if is_typeddict(tp):
        return _typeddict_ok(value, tp)
    origin = get_origin(tp)
    if origin is None:
        if tp is set:
            return isinstance(value, cabc.Set)
        if isinstance(tp, type):
            return isinstance(value, tp)
        return True  # a special form this checker does not know
    args = get_args(tp)
    if origin in _UNION_TYPES:
        return any(stdlib_ok(value, a) for a in args)
    if _LITERAL is not None and origin is _LITERAL:
        return any(type(value) is type(a) and value == a for a in _literal_args(args))
    if _ANNOTATED is not None and origin is _ANNOTATED:
        return stdlib_ok(value, args[0])
    if origin in (type, typing.Type):
        return isinstance(value, type) and (
            not args or not isinstance(args[0], type) or issubclass(value, args[0])
        )
    if origin is cabc.Callable:
        return callable(value)
    if not isinstance(origin, type):
        return True
    if origin is set:
        origin = cabc.Set  # typeguard accepts a frozenset for Set[...]
    if not isinstance(value, origin):
        return False
    return _items_ok(value, _ITEMS.get(origin), args, tp)


def _literal_args(args: tuple) -> list:
    out = []
    for a in args:
        if _LITERAL is not None and get_origin(a) is _LITERAL:
            out += _literal_args(get_args(a))
        else:
            out.append(a)
    return out


def _items_ok(value: Any, kind: str | None, args: tuple, tp: Any) -> bool:
    if kind == "tuple" and _empty_tuple(tp):
        return len(value) == 0
    if kind is None or not args:
        return True
    if kind == "map":
        key, val = args if len(args) == 2 else (Any, Any)
        return all(stdlib_ok(k, key) and stdlib_ok(v, val) for k, v in value.items())
    if kind == "tuple":
        if len(args) == 2 and args[1] is Ellipsis:
            return all(stdlib_ok(v, args[0]) for v in value)
        return len(value) == len(args) and all(stdlib_ok(v, a) for v, a in zip(value, args))
    return all(stdlib_ok(v, args[0]) for v in value)


def _empty_tuple(tp: Any) -> bool:
    return tp == typing.Tuple[()] or (sys.version_info >= (3, 9) and tp == tuple[()])


def _typeddict_ok(value: Any, tp: Any) -> bool:
    if not isinstance(value, dict):
        return False
    try:  # string annotations (PEP 563) evaluated in the TypedDict's module
        hints = typing.get_type_hints(tp)
    except Exception:
        hints = getattr(tp, "__annotations__", {})
    required = getattr(tp, "__required_keys__", None)
    if required is None:  # before 3.9: total or not, for every key
        required = frozenset(hints) if getattr(tp, "__total__", True) else frozenset()
    if not set(required) <= set(value) or not set(value) <= set(hints):
        return False
    return all(stdlib_ok(v, hints[k]) for k, v in value.items())


__all__ = [
    "BACKEND",  # noqa: F822 (made on first access, by __getattr__)
    "get_args",
    "get_origin",
    "is_typeddict",
    "is_union",
    "stdlib_ok",
    "typeguard_ok",
    "value_ok",
]

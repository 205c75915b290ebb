"""Dicts and lists whose keys read as attributes (``step.outputs.parameters``): what the query
objects of :mod:`dflow.argo_objects` are made of (pydflow's ``ArgoObjectDict``/``ArgoObjectList``,
re-exported there)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .gc_pause import gc_paused

_SCALARS = frozenset({str, int, float, bool, type(None)})


def _wrap(value: Any) -> Any:
    if type(value) in _SCALARS:  # most values: no isinstance against the ABCs below
        return value
    if isinstance(value, (ArgoObjectDict, ArgoObjectList)):
        return value
    if isinstance(value, Mapping):
        return ArgoObjectDict(value)
    if isinstance(value, (list, tuple)):
        return ArgoObjectList(value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, ArgoObjectDict):
        return value.recover()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class ArgoObjectDict(dict):
    """A dict whose keys read as attributes (``obj.status.phase``), recursively.

    Nested dicts become ``ArgoObjectDict`` and lists ``ArgoObjectList``. Keys that collide
    with dict methods (``items``, ``keys``, ``values``...) are read with ``obj["items"]``.
    """

    def __init__(self, d: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__()
        put = dict.__setitem__  # what __setitem__ does, without a call of it per key
        for items in ((d or {}).items(), kwargs.items()):
            for k, v in items:
                put(self, k, _wrap(v))

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _wrap(value))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no attribute or key '{name}'"
                f" (keys: {', '.join(map(str, self)) or 'none'})"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __delattr__(self, name: str) -> None:
        if name in self:
            del self[name]
        else:
            object.__delattr__(self, name)

    def recover(self) -> dict[str, Any]:
        """Plain dicts and lists, as JSON would hold them."""
        return {k: _plain(v) for k, v in self.items()}


class ArgoObjectList(list):
    """A list whose dict items read as attributes."""

    def __init__(self, items: Iterable[Any] = ()) -> None:
        super().__init__(_wrap(v) for v in items)

    def append(self, value: Any) -> None:
        super().append(_wrap(value))

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            super().__setitem__(index, [_wrap(v) for v in value])
        else:
            super().__setitem__(index, _wrap(value))

    def recover(self) -> list[Any]:
        return [_plain(v) for v in self]


class DeferredNode:
    """A node of a queried workflow that its engine makes on first read: ``make()`` returns
    the node's dict. A query's nodes are many (one per slice of a fan-out) and most are
    never read: the local engine's ``submit`` returns its run's workflow, whose 100,000 node
    dicts cost seconds to make."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], dict[str, Any]]) -> None:
        self.make = make


class _LazyNodes(ArgoObjectDict):
    """A queried workflow's ``status.nodes``: each node becomes an :class:`ArgoObjectDict`
    when first read, not when the workflow is built (a 10,000-slice fan-out's query wrapped
    every node, 40-80 µs each, and most are never read), and a :class:`DeferredNode` is made
    then too. It reads as the eager dict did: indexing, ``get``, ``items``/``values``,
    ``dict(...)``, ``copy``, ``==``, ``repr``, pickling and JSON give wrapped nodes
    (``items``/``values`` wrap the rest at once)."""

    def __init__(self, nodes: Mapping[str, Any]) -> None:
        dict.__init__(self, nodes)

    @gc_paused()  # 100,000s of nodes made at once: see dflow.gc_pause
    def _make_all(self) -> None:
        for key, value in dict.items(self):
            if type(value) is DeferredNode:  # replacing a value keeps the dict's size: safe
                dict.__setitem__(self, key, value.make())

    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        if type(value) is DeferredNode:
            value = value.make()  # a dict, wrapped and kept below
        if type(value) is dict:
            value = ArgoObjectDict(value)
            dict.__setitem__(self, key, value)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def __iter__(self) -> Any:  # not dict's: dict(nodes) and {**nodes} go through __getitem__
        return dict.__iter__(self)

    @gc_paused()
    def _wrap_all(self) -> None:
        self._make_all()
        for key, value in dict.items(self):
            if type(value) is dict:  # replacing a value keeps the dict's size: safe here
                dict.__setitem__(self, key, ArgoObjectDict(value))

    def __eq__(self, other: object) -> bool:
        self._make_all()
        if isinstance(other, _LazyNodes):
            other._make_all()
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]  # as a dict's

    def __repr__(self) -> str:
        self._make_all()
        return dict.__repr__(self)

    def items(self) -> Any:
        self._wrap_all()
        return dict.items(self)

    def values(self) -> Any:
        self._wrap_all()
        return dict.values(self)

    def copy(self) -> dict[str, Any]:
        self._wrap_all()
        return dict.copy(self)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self[key]  # wrapped first
        return dict.pop(self, key, *default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __reduce_ex__(self, protocol: Any) -> Any:
        self._wrap_all()
        return ArgoObjectDict, (dict.copy(self),)

    def recover(self) -> dict[str, Any]:
        self._make_all()
        return {k: _plain(v) for k, v in dict.items(self)}

    def raw(self) -> dict[str, Any]:  # as stored, wrapped or not: the workflow's own lookups
        # not dict.copy(self): for a dict whose __iter__ is its own, CPython copies through
        # keys() and __getitem__, which wraps every node
        self._make_all()
        return dict(dict.items(self))

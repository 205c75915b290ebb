"""AST nodes of the expr-lang subset. Frozen, hashable and cheap to cache."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class Literal:
    value: Any
    pos: int = 0


@attrs.frozen
class Identifier:
    name: str
    pos: int = 0


@attrs.frozen
class Pointer:
    """``#`` (current element), ``#index`` or ``#acc`` inside a predicate."""

    name: str  # "" for "#"
    pos: int = 0


@attrs.frozen
class Member:
    """``obj.name`` / ``obj[expr]``; ``optional`` for ``?.``."""

    obj: Any
    key: Any
    optional: bool = False
    pos: int = 0


@attrs.frozen
class Slice:
    obj: Any
    start: Any
    stop: Any
    pos: int = 0


@attrs.frozen
class Call:
    """A call; ``callee`` is an Identifier (builtin/global) or a Member (``sprig.trim``)."""

    callee: Any
    args: tuple
    pos: int = 0


@attrs.frozen
class Predicate:
    """A closure body such as ``{# > 1}`` passed to map/filter/all/..."""

    body: Any
    pos: int = 0


@attrs.frozen
class Unary:
    op: str
    operand: Any
    pos: int = 0


@attrs.frozen
class Binary:
    op: str
    left: Any
    right: Any
    pos: int = 0


@attrs.frozen
class Conditional:
    cond: Any
    then: Any
    otherwise: Any
    pos: int = 0


@attrs.frozen
class ArrayLit:
    items: tuple
    pos: int = 0


@attrs.frozen
class MapLit:
    pairs: tuple  # ((key_node, value_node), ...)
    pos: int = 0


@attrs.frozen
class Let:
    name: str
    value: Any
    body: Any
    pos: int = 0

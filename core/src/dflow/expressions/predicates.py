"""expr's closure builtins: map, filter, all, any, none, one, count, sum, find..., reduce.

Each receives the interpreter and the Call node, because its predicate argument must be
evaluated once per element with ``#`` (element), ``#index`` and ``#acc`` bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import Problem
from .values import go_type, is_number


def _array(interp: Any, node: Any, name: str) -> list:
    value = interp.eval(node.args[0])
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list | tuple):
        raise Problem(f"{name}() needs an array, got {go_type(value)}", node.pos)
    return list(value)


def _each(interp: Any, node: Any, items: list):
    predicate = node.args[1]
    for index, item in enumerate(items):
        yield item, interp.run_predicate(predicate, {"": item, "index": index})


def _bool(name: str, value: Any, pos: int) -> bool:
    if not isinstance(value, bool):
        raise Problem(f"predicate of {name}() must return a bool, got {go_type(value)}", pos)
    return value


def _filter(interp: Any, node: Any) -> list:
    return [
        i
        for i, r in _each(interp, node, _array(interp, node, "filter"))
        if _bool("filter", r, node.pos)
    ]


def _map(interp: Any, node: Any) -> list:
    return [r for _, r in _each(interp, node, _array(interp, node, "map"))]


def _quantifier(name: str, decide: Callable[[list[bool]], bool]):
    def run(interp: Any, node: Any) -> bool:
        results = []
        for _, r in _each(interp, node, _array(interp, node, name)):
            results.append(_bool(name, r, node.pos))
            # all/any/none short-circuit like expr does
            if name == "all" and not results[-1]:
                return False
            if name == "any" and results[-1]:
                return True
            if name == "none" and results[-1]:
                return False
        return decide(results)

    return run


def _count(interp: Any, node: Any) -> int:
    items = _array(interp, node, "count")
    if len(node.args) == 1:
        return sum(1 for i in items if _bool("count", i, node.pos))
    return sum(1 for _, r in _each(interp, node, items) if _bool("count", r, node.pos))


def _sum(interp: Any, node: Any) -> Any:
    items = _array(interp, node, "sum")
    values = items if len(node.args) == 1 else [r for _, r in _each(interp, node, items)]
    total: Any = 0
    for value in values:
        if not is_number(value):
            raise Problem(f"invalid argument for sum (type {go_type(value)})", node.pos)
        total += value
    return total


def _finder(name: str, reverse: bool, want_index: bool):
    def run(interp: Any, node: Any) -> Any:
        items = _array(interp, node, name)
        order = range(len(items) - 1, -1, -1) if reverse else range(len(items))
        for index in order:
            found = interp.run_predicate(node.args[1], {"": items[index], "index": index})
            if _bool(name, found, node.pos):
                return index if want_index else items[index]
        return -1 if want_index else None

    return run


def _group_by(interp: Any, node: Any) -> dict:
    groups: dict[Any, list] = {}
    for item, key in _each(interp, node, _array(interp, node, "groupBy")):
        groups.setdefault(key, []).append(item)
    return groups


def _sort_by(interp: Any, node: Any) -> list:
    items = _array(interp, node, "sortBy")
    order = interp.eval(node.args[2]) if len(node.args) > 2 else "asc"
    if order not in ("asc", "desc"):
        raise Problem(f"unknown order {order!r}, use asc or desc", node.pos)
    keyed = [(r, i) for i, r in _each(interp, node, items)]
    try:
        keyed.sort(key=lambda pair: pair[0], reverse=order == "desc")
    except TypeError:
        raise Problem("sortBy() keys must be all numbers or all strings", node.pos)
    return [item for _, item in keyed]


def _reduce(interp: Any, node: Any) -> Any:
    items = _array(interp, node, "reduce")
    if len(node.args) > 2:
        acc, start = interp.eval(node.args[2]), 0
    elif items:
        acc, start = items[0], 1
    else:
        raise Problem("reduce() of an empty array needs an initial value", node.pos)
    for index in range(start, len(items)):
        acc = interp.run_predicate(node.args[1], {"": items[index], "index": index, "acc": acc})
    return acc


PREDICATE_BUILTINS: dict[str, Callable[[Any, Any], Any]] = {
    "filter": _filter,
    "map": _map,
    "all": _quantifier("all", all),
    "any": _quantifier("any", any),
    "none": _quantifier("none", lambda rs: not any(rs)),
    "one": _quantifier("one", lambda rs: sum(rs) == 1),
    "count": _count,
    "sum": _sum,
    "find": _finder("find", reverse=False, want_index=False),
    "findIndex": _finder("findIndex", reverse=False, want_index=True),
    "findLast": _finder("findLast", reverse=True, want_index=False),
    "findLastIndex": _finder("findLastIndex", reverse=True, want_index=True),
    "groupBy": _group_by,
    "sortBy": _sort_by,
    "reduce": _reduce,
}

"""Loop items (``withItems``/``withParam``/``withSequence``) as Argo expands them.

Follows pkg/apis/workflow/v1alpha1/item.go and processItem/generateNodeName/expandSequence
of workflow/controller/operator.go (v3.7.18). Items keep the JSON text of their numbers
(Go keeps a json.RawMessage), so ``1.50`` stays ``1.50`` in names and values.
"""

from __future__ import annotations

import json
from typing import Any

from .templating import TemplateError


class RawNumber(str):
    """A JSON number as written."""


def parse_items(text: str) -> list[Any]:
    """json.Unmarshal into []Item, numbers kept as written."""
    value = json.loads(text, parse_float=RawNumber, parse_int=RawNumber)
    if not isinstance(value, list):
        raise ValueError("not a JSON list")
    return value


def raw(value: Any) -> Any:
    """An item from a manifest (already decoded) with numbers as Go would print them."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return RawNumber(json.dumps(value))
    if isinstance(value, list):
        return [raw(v) for v in value]
    if isinstance(value, dict):
        return {k: raw(v) for k, v in value.items()}
    return value


def compact(value: Any, sort_keys: bool = False) -> str:
    """Compact JSON: a Go map (``sort_keys``) or a json.RawMessage (order as written)."""
    if isinstance(value, RawNumber):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(compact(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value) if sort_keys else list(value)
        return (
            "{"
            + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{compact(value[k])}" for k in keys)
            + "}"
        )
    return json.dumps(value)


def item_string(value: Any) -> str:
    """Item.String: strings without their quotes, anything else as compact JSON."""
    text = compact(value)
    return text[1:-1] if isinstance(value, str) and not isinstance(value, RawNumber) else text


def node_name(name: str, index: int, desc: str) -> str:
    """generateNodeName (operator.go, v3.7.18): ``name(index:desc)``, parentheses dropped."""
    clean = desc.replace("(", "").replace(")", "")
    return f"{name}({index}:{clean})"


def item_values(index: int, name: str, item: Any) -> tuple[str, dict[str, str]]:
    """The node name and the ``item``/``item.<key>`` values of processItem (v3.7.18)."""
    if isinstance(item, RawNumber | bool):
        text = item_string(item)
        return node_name(name, index, text), {"item": text}
    if isinstance(item, str):
        return node_name(name, index, item_string(item)), {"item": item}
    if isinstance(item, dict):
        values = {f"item.{k}": item_string(v) for k, v in item.items()}
        values["item"] = compact(item, sort_keys=True)
        desc = ",".join(sorted(f"{k}:{item_string(v)}" for k, v in item.items()))
        return node_name(name, index, desc), values
    if isinstance(item, list):
        desc = "[" + " ".join(item_string(v) for v in item) + "]"  # fmt.Sprint of []Item
        return node_name(name, index, desc), {"item": compact(item)}
    raise TemplateError(
        f"withItems[{index}] expected string, number, list, or map. received: {item!r}"
    )


def expand_sequence(seq: dict[str, Any]) -> list[Any]:
    """expandSequence (operator.go, v3.7.18): inclusive ``start``..``end`` or ``count``."""

    def num(key: str) -> int:
        try:
            return int(str(seq[key]))
        except ValueError:
            raise TemplateError(f'strconv.Atoi: parsing "{seq[key]}": invalid syntax')

    start = num("start") if seq.get("start") is not None else 0
    if seq.get("end") is not None:
        end = num("end")
    elif seq.get("count") is not None:
        count = num("count")
        if count == 0:
            return []
        end = start + count - 1
    else:
        raise TemplateError("neither end nor count was specified in withSequence")
    fmt = seq.get("format") or "%d"
    step = 1 if start <= end else -1
    return [_sprintf(fmt, i) for i in range(start, end + step, step)]


def _sprintf(fmt: str, i: int) -> str:
    """fmt.Sprintf for the integer verbs a sequence format uses (``%d``, ``%02d``, ``%x``)."""
    try:
        return fmt.replace("%v", "%d") % i
    except (TypeError, ValueError):
        raise TemplateError(f"withSequence format {fmt!r} is not a Go integer format")

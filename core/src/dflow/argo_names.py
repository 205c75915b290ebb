"""How Argo names and times a workflow's nodes: pod names, the name filter of
``query_step(name=...)``, durations (pydflow's helpers in ``argo_objects``, re-exported there)."""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Iterable
from typing import Any


def parse_time(value: Any) -> _dt.datetime | None:
    """An aware datetime from Argo's ISO text (``...Z``) or an epoch number; None if unset."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return _dt.datetime.fromtimestamp(value, tz=_dt.UTC)
    if isinstance(value, _dt.datetime):
        t = value
    else:
        text = str(value)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        t = _dt.datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


def duration(started: Any, finished: Any) -> _dt.timedelta:
    """Elapsed time; a running node (no ``finishedAt``) counts up to now."""
    start = parse_time(started)
    if start is None:
        return _dt.timedelta(0)
    end = parse_time(finished) or _dt.datetime.now(_dt.UTC)
    return end - start


def get_duration(status: Any) -> _dt.timedelta:
    """Run time of a node or workflow status (``startedAt``/``finishedAt``; up to now)."""
    return duration(status.get("startedAt"), status.get("finishedAt"))


# Argo's pod names (workflow/util/pod_name.go, v3.7.18 and v4.1.2: GeneratePodName, "v2" names)
max_k8s_resource_name_length = 253
k8s_naming_hash_length = 10
FNV_32_PRIME = 0x01000193
FNV1_32_INIT = 0x811C9DC5


def fnva(data: bytes, hval_init: int, fnv_prime: int, fnv_size: int) -> int:
    """FNV-1a of ``data`` (xor each byte in, then multiply), modulo ``fnv_size``."""
    hval = hval_init
    for byte in data:
        hval = ((hval ^ byte) * fnv_prime) % fnv_size
    return hval


def get_hash(node_name: str) -> int:
    """32-bit FNV-1a of a node name, as Argo hashes it into pod names."""
    return fnva(node_name.encode(), FNV1_32_INIT, FNV_32_PRIME, 2**32)


def get_pod_name(wf_name: str, node_name: str, template_name: str, node_id: str = "") -> str:
    """The pod Argo creates for node ``node_name``: ``<wf>-<template>-<fnv32a(node name)>``."""
    if wf_name == node_name:
        return wf_name
    prefix = f"{wf_name}-{template_name}" if template_name else wf_name
    limit = max_k8s_resource_name_length - k8s_naming_hash_length - 1
    return f"{prefix[:limit]}-{get_hash(node_name)}"


@functools.lru_cache(maxsize=256)
def _pattern(name: str) -> re.Pattern[str] | None:
    try:
        return re.compile(name)
    except re.error:
        return None  # not a regular expression: it still matches literally


def name_matches(shown: str, names: Iterable[str]) -> bool:
    """Whether a node's display name matches one of ``names`` (``query_step(name=...)``).

    A name matches the display name, or the part of it before a ``(`` (so ``hello`` matches
    the loop item ``hello(0:1)`` and its retry ``hello(0:1)(0)``, as in pydflow), either
    literally or as a regular expression over the whole part (``re.fullmatch``: ``hello``
    never matches ``hello-world``; ``hel.*`` does). A name that is not a valid regular
    expression matches literally only.
    """
    parts = [shown] + [shown[:i] for i, c in enumerate(shown) if c == "("]
    for name in names:
        if name in parts:
            return True
        pattern = _pattern(name)
        if pattern is not None and any(pattern.fullmatch(p) for p in parts):
            return True
    return False


def match(n: str, names: Iterable[str]) -> bool:
    """pydflow's name filter (``dflow.argo_objects.match``): :func:`name_matches`."""
    return name_matches(n, [names] if isinstance(names, str) else names)

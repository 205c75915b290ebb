"""Count Python's cyclic collections around an action (tests of :mod:`dflow.gc_pause`)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def collections_during(action: Callable[[], T]) -> tuple[T, list[int]]:
    """``action()``'s result, and the generation of each cyclic collection that ran
    meanwhile, in order."""
    seen: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(count)
    try:
        result = action()
    finally:
        gc.callbacks.remove(count)
    return result, seen

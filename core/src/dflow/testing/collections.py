"""Count Python's cyclic collections around an action (tests of :mod:`dflow.gc_pause`)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def collections_during(action: Callable[[], T]) -> tuple[T, list[int]]:
    """``action()``'s result, and the generation of each cyclic collection that ran
    meanwhile in this thread (a collection runs in the thread whose allocation started it:
    not one of a test server's threads), in order. It starts from a collected heap, so the
    count does not depend on what ran before."""
    seen: list[int] = []
    me = threading.get_ident()
    gc.collect()

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and threading.get_ident() == me:
            seen.append(info["generation"])

    gc.callbacks.append(count)
    try:
        result = action()
    finally:
        gc.callbacks.remove(count)
    return result, seen

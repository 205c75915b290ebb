"""Pause Python's cyclic garbage collector while a large record is built.

Building a query of a 100,000-node workflow makes millions of long-lived containers. Each
young collection moves them to the old generation, and every so often CPython then walks
the whole heap in a full collection: at 100,000 nodes about ten of them, 0.1-0.5 s each, so
the cost of a query grew faster than its size (the local engine's ``submit`` returned its
record 5.2 s after the run's end, 1.5 s with the collector paused). Reference counting still
frees everything while the collector is paused; only cycles wait for it to resume.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0  # pauses open now, in any thread
_resume = False  # the collector was on when the first of them began


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector is back on after the last
    overlapping block ends, if it was on before the first began (a caller's
    ``gc.disable()`` stays)."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()

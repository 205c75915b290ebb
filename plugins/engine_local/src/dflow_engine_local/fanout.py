"""Scheduling the items of a fan-out: concurrency, ``debug_failfast``, batched submission.

``debug_batch_size``/``debug_batch_interval`` (pydflow: sleep ``interval`` seconds after each
``batch_size`` submissions): item ``i`` is not started before ``(i // batch_size) * interval``
seconds after the fan-out began. ``debug_failfast``: the first failed item fails the fan-out
at once; items not started yet never start, items in flight are cancelled (their worker is
killed, a script's process group too) and journaled ``Failed`` with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .journal import TERMINAL, Node
from .state import RunContext

FAILED = ("Failed", "Error")


class Throttle:
    """Delays item starts per ``debug_batch_size`` / ``debug_batch_interval``."""

    def __init__(self, size: int | None, interval: float) -> None:
        self.size = int(size) if size else 0
        self.interval = max(0.0, float(interval or 0))
        self.t0 = asyncio.get_running_loop().time()

    async def wait(self, index: int) -> None:
        if not self.size or not self.interval or index < self.size:
            return
        due = self.t0 + (index // self.size) * self.interval
        delay = due - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)


async def run_items(
    ctx: RunContext,
    group: Node,
    n: int,
    limit: int,
    failfast: bool,
    one: Callable[[int], Awaitable[Any]],
) -> None:
    """Run ``one(i)`` for every item, ``limit`` at a time, per the run's settings."""
    settings = ctx.settings
    throttle = Throttle(settings.batch_size, settings.batch_interval)
    it = iter(range(n))
    failed = asyncio.Event()

    async def worker() -> None:
        for i in it:
            if failed.is_set():
                return
            await throttle.wait(i)
            if failed.is_set():
                return
            res = await one(i)
            if failfast and res.phase in FAILED:
                failed.set()

    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, limit))]
    if not failfast:
        await asyncio.gather(*tasks)
        return
    everything = asyncio.ensure_future(asyncio.gather(*tasks, return_exceptions=True))
    first = asyncio.ensure_future(failed.wait())
    try:
        either: list[asyncio.Future[Any]] = [everything, first]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        first.cancel()
    if everything.done():
        for r in everything.result():
            if isinstance(r, BaseException):
                raise r
        return
    for t in tasks:
        t.cancel()
    await everything
    fail_unfinished(
        ctx,
        group,
        "not finished: another item failed and debug_failfast "
        "stops the fan-out at its first failure",
    )


def fail_unfinished(ctx: RunContext, root: Node, message: str) -> None:
    """Journal every unfinished node below ``root`` as Failed (cancelled work)."""
    kids: dict[str, list[Node]] = {}
    for node in ctx.journal.cache.values():
        if node.parent_id:
            kids.setdefault(node.parent_id, []).append(node)
    stack = list(kids.get(root.id, []))
    while stack:
        node = stack.pop()
        stack.extend(kids.get(node.id, []))
        if node.phase not in TERMINAL:
            ctx.nodes.transition(node, "Failed", message=message)

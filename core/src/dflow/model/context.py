"""``with Workflow(...)`` / ``with Steps(...)`` / ``with DAG(...)`` blocks.

Steps and tasks created inside a block are added to the innermost open container. The stack is
per thread, so a workflow under construction never sees another thread's blocks.
"""

from __future__ import annotations

import threading
from typing import Any

_local = threading.local()


def _stack() -> list[Any]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def push(container: Any) -> None:
    _stack().append(container)


def pop(container: Any) -> None:
    stack = _stack()
    if stack and stack[-1] is container:
        stack.pop()


def current() -> Any:
    stack = _stack()
    return stack[-1] if stack else None


def auto_add(node: Any) -> None:
    """Add a just-built step/task to the open container, if any."""
    container = current()
    if container is not None:
        container.add(node)

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


def call_in_context(op: Any, args: tuple, kwargs: dict) -> Any:
    """A function OP called inside a ``with`` block: add a step running it.

    Keyword arguments become parameters or artifacts according to the OP's input sign; the
    result maps each output name to its reference, for wiring later calls.
    """
    from ..python.template import PythonOPTemplate
    from .dag import DAG
    from .step import Step, Task

    if args:
        raise TypeError(f"{op.__name__}(...) inside a workflow block takes keyword arguments only")
    container = current()
    entry = getattr(container, "entrypoint", container)
    is_dag = entry is None or isinstance(entry, DAG)
    base = op.__name__.replace("_", "-").lower()
    existing = {s.name for s in (entry.iter_steps() if entry is not None else [])}
    name, i = base, 1
    while name in existing:
        i += 1
        name = f"{base}-{i}"
    template = PythonOPTemplate(op, **getattr(op, "_template_kwargs", {}))
    params = {k: v for k, v in kwargs.items() if k in template.inputs.parameters}
    arts = {k: v for k, v in kwargs.items() if k in template.inputs.artifacts}
    unknown = set(kwargs) - set(params) - set(arts)
    if unknown:
        raise TypeError(f"{op.__name__}() got unexpected arguments {sorted(unknown)}")
    node_type = Task if is_dag else Step
    node = node_type(name, template, parameters=params, artifacts=arts)
    return {**node.outputs.parameters, **node.outputs.artifacts}

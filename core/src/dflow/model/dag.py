"""``DAG``: a template made of tasks and their dependencies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import context
from .io import Inputs, Outputs
from .op_template import OPTemplate
from .step import Task


class DAG(OPTemplate):
    """Tasks run as soon as their dependencies (explicit or inferred from references) succeed."""

    def __init__(
        self,
        name: str | None = None,
        inputs: Inputs | None = None,
        outputs: Outputs | None = None,
        tasks: list[Task] | None = None,
        memoize_key: str | None = None,
        annotations: dict | None = None,
        parallelism: int | None = None,
    ) -> None:
        super().__init__(name, inputs, outputs, memoize_key, None, annotations)
        self.parallelism = parallelism
        self.tasks: list[Task] = []
        for t in tasks or []:
            self.add(t)

    def add(self, task: Task | list[Task]) -> None:
        """Add a task (or several)."""
        for t in list(task) if isinstance(task, list | tuple) else [task]:
            if not isinstance(t, Task):
                raise TypeError(
                    f"DAG '{self.name}': can only add Task objects, got {type(t).__name__} "
                    f"(use Task(...) instead of Step(...) inside a DAG)"
                )
            if t.parallelism is not None:
                self.parallelism = (
                    t.parallelism
                    if self.parallelism is None
                    else min(self.parallelism, t.parallelism)
                )
            self.tasks.append(t)

    def iter_steps(self) -> Iterator[Task]:
        yield from self.tasks

    def dependency_graph(self) -> dict[str, set[str]]:
        """Task name -> names of the tasks it waits for."""
        return {t.name: t.dependency_names() for t in self.tasks}

    def to_mermaid(self) -> str:
        """A mermaid flowchart of this template's graph."""
        from ..graph import draw

        return draw(self, "mermaid")

    def to_dot(self) -> str:
        """Graphviz DOT text of this template's graph."""
        from ..graph import draw

        return draw(self, "dot")

    def to_svg(self) -> str:
        """An SVG picture of this template's graph (no Graphviz needed)."""
        from ..graph import draw

        return draw(self, "svg")

    def __enter__(self) -> DAG:
        context.push(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        context.pop(self)

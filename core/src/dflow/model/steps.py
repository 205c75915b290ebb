"""``Steps``: a template made of sequential groups of parallel steps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import context
from .io import Inputs, Outputs
from .op_template import OPTemplate
from .step import Step


class Steps(OPTemplate):
    """``[[s00, s01], [s10]]``: groups run in order, the steps of a group in parallel."""

    def __init__(
        self,
        name: str | None = None,
        inputs: Inputs | None = None,
        outputs: Outputs | None = None,
        steps: list[Step | list[Step]] | None = None,
        memoize_key: str | None = None,
        annotations: dict | None = None,
        parallelism: int | None = None,
    ) -> None:
        super().__init__(name, inputs, outputs, memoize_key, None, annotations)
        self.parallelism = parallelism
        self.steps: list[list[Step]] = []
        for s in steps or []:
            self.add(s)

    def add(self, step: Step | list[Step]) -> None:
        """Append a step, or a list of steps that run in parallel."""
        group = list(step) if isinstance(step, list | tuple) else [step]
        for s in group:
            if not isinstance(s, Step):
                raise TypeError(
                    f"Steps '{self.name}': can only add Step objects, got {type(s).__name__}"
                )
            if s.parallelism is not None:
                self.parallelism = (
                    s.parallelism
                    if self.parallelism is None
                    else min(self.parallelism, s.parallelism)
                )
        self.steps.append(group)

    def iter_steps(self) -> Iterator[Step]:
        for group in self.steps:
            yield from group

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

    def __enter__(self) -> Steps:
        context.push(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        context.pop(self)

"""A leaf step instance (its node and directory, its inputs), as its attempts see it."""

from __future__ import annotations

import attrs
from dflow.model.step import Step

from .journal import Node
from .layout import StepDir


@attrs.frozen(eq=False)
class Leaf:
    """A leaf step instance, as its attempts see it."""

    step: Step
    node: Node
    sd: StepDir
    params: dict[str, str]
    arts: dict[str, str | None]
    slice_index: int | list[int] | None
    key: str | None

    @property
    def display(self) -> str:
        return self.node.display_name

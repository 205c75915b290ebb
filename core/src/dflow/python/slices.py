"""``Slices``: feed list items of inputs to the parallel items of a fan-out and stack outputs."""

from __future__ import annotations

from typing import Any

import attrs


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


@attrs.define
class Slices:
    """How a fan-out slices its list inputs and stacks its outputs (pydflow's signature).

    ``slices`` is the index expression of each parallel item (``"{{item}}"`` by default,
    ``"{{item.order}}"`` in sub-path mode).
    """

    slices: Any = None
    input_parameter: list[str] = attrs.field(factory=list, converter=_names)
    input_artifact: list[str] = attrs.field(factory=list, converter=_names)
    output_parameter: list[str] = attrs.field(factory=list, converter=_names)
    output_artifact: list[str] = attrs.field(factory=list, converter=_names)
    sub_path: bool = False
    group_size: int | None = None
    shuffle: bool = False
    random_seed: int = 0
    pool_size: int | None = None
    pool_timeout: int | None = None
    register_first_only: bool = False
    create_dir: bool = False
    raise_for_group: bool = False

    def __attrs_post_init__(self) -> None:
        if self.slices is None:
            self.slices = "{{item.order}}" if self.sub_path else "{{item}}"
        if self.group_size is not None and int(self.group_size) < 1:
            raise ValueError(f"Slices(group_size={self.group_size}): group_size must be >= 1")

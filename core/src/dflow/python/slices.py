"""``Slices``: feed list items of inputs to the parallel items of a fan-out and stack outputs."""

from __future__ import annotations

import dataclasses
from typing import Any

_NAME_FIELDS = ("input_parameter", "input_artifact", "output_parameter", "output_artifact")


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


# a dataclass, not attrs: it is part of the pod runtime, which needs only the standard library
@dataclasses.dataclass
class Slices:
    """How a fan-out slices its list inputs and stacks its outputs (pydflow's signature).

    ``slices`` is the index expression of each parallel item (``"{{item}}"`` by default,
    ``"{{item.order}}"`` in sub-path mode). The four name lists accept a name or a list.
    """

    # annotations stay strings (PEP 563), so the 3.10 spellings are fine on Python 3.7
    slices: Any = None
    input_parameter: list[str] = dataclasses.field(default_factory=list)
    input_artifact: list[str] = dataclasses.field(default_factory=list)
    output_parameter: list[str] = dataclasses.field(default_factory=list)
    output_artifact: list[str] = dataclasses.field(default_factory=list)
    sub_path: bool = False
    group_size: int | None = None
    shuffle: bool = False
    random_seed: int = 0
    pool_size: int | None = None
    pool_timeout: int | None = None
    register_first_only: bool = False
    create_dir: bool = False
    raise_for_group: bool = False

    def __setattr__(self, name: str, value: Any) -> None:
        # a name or a list, also when set after construction (as attrs converters did)
        object.__setattr__(self, name, _names(value) if name in _NAME_FIELDS else value)

    def __post_init__(self) -> None:
        if self.slices is None:
            self.slices = "{{item.order}}" if self.sub_path else "{{item}}"
        if self.group_size is not None and int(self.group_size) < 1:
            raise ValueError(f"Slices(group_size={self.group_size}): group_size must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        """The constructor arguments, as plain data (``Slices(**s.to_dict())`` is ``s``)."""
        return {f.name: _copy(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value

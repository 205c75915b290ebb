"""pydflow import path `dflow.step` (the code lives in `dflow.model.step`)."""

from .model.step import (
    HookStep,
    Step,
)

__all__ = [
    "Step",
    "HookStep",
]

from .model.helpers import (  # noqa: E402
    argo_concat,
    argo_enumerate,
    argo_len,
    argo_range,
    argo_sequence,
    argo_sum,
)

__all__ += ["argo_concat", "argo_enumerate", "argo_len", "argo_range", "argo_sequence", "argo_sum"]

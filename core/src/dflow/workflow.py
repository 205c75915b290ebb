"""pydflow import path `dflow.workflow` (the code lives in `dflow.model.workflow`)."""

from .model.workflow import (
    Workflow,
)

__all__ = [
    "Workflow",
]

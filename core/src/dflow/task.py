"""pydflow import path `dflow.task` (the code lives in `dflow.model.step`)."""

from .model.step import (
    Task,
)

__all__ = [
    "Task",
]

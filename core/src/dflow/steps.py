"""pydflow import path `dflow.steps` (the code lives in `dflow.model.steps`)."""

from .model.steps import (
    Steps,
)

__all__ = [
    "Steps",
]

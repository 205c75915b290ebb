"""pydflow import path `dflow.dag` (the code lives in `dflow.model.dag`)."""

from .model.dag import (
    DAG,
)

__all__ = [
    "DAG",
]

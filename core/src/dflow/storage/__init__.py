"""Artifact storage: the client interface, the local store, errors and transfer helpers."""

from __future__ import annotations

from .client import StorageClient
from .errors import (
    AccessDenied,
    BucketMissing,
    CredentialsError,
    IntegrityError,
    NotFound,
    StorageError,
    Unreachable,
)
from .local import LocalStorageClient, LocalStorageConfig

__all__ = [
    "AccessDenied",
    "BucketMissing",
    "CredentialsError",
    "IntegrityError",
    "LocalStorageClient",
    "LocalStorageConfig",
    "NotFound",
    "StorageClient",
    "StorageError",
    "Unreachable",
]

"""Artifact storage: the client interface, the local store, artifacts and the artifact API."""

from __future__ import annotations

from .api import (
    catalog_of_artifact,
    copy_artifact,
    download_artifact,
    path_list_of_artifact,
    path_object_of_artifact,
    upload_artifact,
)
from .artifacts import CustomArtifact, HTTPArtifact, LocalArtifact, S3Artifact
from .client import StorageCapabilities, StorageClient
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
from .objects import copy_s3, download_s3, upload_s3

__all__ = [
    "AccessDenied",
    "CustomArtifact",
    "catalog_of_artifact",
    "HTTPArtifact",
    "LocalArtifact",
    "S3Artifact",
    "copy_artifact",
    "copy_s3",
    "download_artifact",
    "download_s3",
    "path_list_of_artifact",
    "path_object_of_artifact",
    "upload_artifact",
    "upload_s3",
    "BucketMissing",
    "CredentialsError",
    "IntegrityError",
    "LocalStorageClient",
    "LocalStorageConfig",
    "NotFound",
    "StorageCapabilities",
    "StorageClient",
    "StorageError",
    "Unreachable",
]

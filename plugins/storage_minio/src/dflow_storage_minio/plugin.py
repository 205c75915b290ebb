"""Entry point of ``dflow-storage-minio`` (light: boto3 is imported by the client on first use)."""

from __future__ import annotations

from typing import Any

from dflow.plugins import hookimpl
from dflow.plugins.records import StorageRecord

from .config import MinioConfig


def _make_client(config: MinioConfig | None = None) -> Any:
    from .client import MinioClient

    return MinioClient.from_config(config or MinioConfig())


@hookimpl
def dflow_storage_clients() -> list[StorageRecord]:
    return [
        StorageRecord(
            name="minio",
            aliases=("s3",),
            factory=_make_client,
            config_type=MinioConfig,
            artifact_kind="s3",
            description="S3-compatible object store (MinIO, AWS S3, ...) over boto3",
        )
    ]

"""Entry point of the ``dflow-storage-oss`` plugin (light: oss2 is imported by the client)."""

from __future__ import annotations

from dflow.plugins import hookimpl
from dflow.plugins.records import StorageRecord

from .config import OSSConfig


def _make_client(config: OSSConfig | None = None):
    from .client import OSSClient

    return OSSClient.from_config(config or OSSConfig())


@hookimpl
def dflow_storage_clients() -> list[StorageRecord]:
    return [
        StorageRecord(
            name="oss",
            factory=_make_client,
            config_type=OSSConfig,
            artifact_kind="oss",
            description="Aliyun OSS bucket (oss2), configured by OSS_* env vars or [storages.oss]",
        )
    ]

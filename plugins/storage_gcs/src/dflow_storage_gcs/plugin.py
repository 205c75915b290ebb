"""Entry point of the ``dflow-storage-gcs`` plugin (light: google-cloud-storage is imported by the client)."""

from __future__ import annotations

from dflow.plugins import hookimpl
from dflow.plugins.records import StorageRecord

from .config import GCSConfig


def _make_client(config: GCSConfig | None = None):
    from .client import GCSClient

    return GCSClient.from_config(config or GCSConfig())


@hookimpl
def dflow_storage_clients() -> list[StorageRecord]:
    return [
        StorageRecord(
            name="gcs",
            factory=_make_client,
            config_type=GCSConfig,
            artifact_kind="gcs",
            description="Google Cloud Storage bucket (google-cloud-storage), or a GCS emulator",
        )
    ]

"""Core's own plugin: what ``pip install dflow-core`` provides without any other distribution."""

from __future__ import annotations

from . import hookimpl
from .records import StorageRecord


@hookimpl
def dflow_storage_clients() -> list[StorageRecord]:
    # Imported when storage names are first resolved, not when dflow or this module is imported.
    from dflow.storage.local import LocalStorageClient, LocalStorageConfig

    return [
        StorageRecord(
            name="local",
            factory=LocalStorageClient.from_config,
            config_type=LocalStorageConfig,
            description="artifacts in the local filesystem (the local engine's store)",
            artifact_kind="local",
        )
    ]

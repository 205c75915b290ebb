"""Core's own plugin: what ``pip install dflow-core`` provides without any other distribution."""

from __future__ import annotations

from typing import Any

import attrs

from . import hookimpl
from .records import StorageRecord


@attrs.frozen
class LocalStorageConfig:
    """``[storages.local]``: where the local store keeps artifacts (default: the engine's)."""

    root: str | None = None


def _local_storage(config: LocalStorageConfig | None = None) -> Any:
    # Imported here: the plugin module stays light and the client lives in dflow.storage.
    from dflow.storage.local import LocalStorageClient

    if config is not None and config.root is not None:
        return LocalStorageClient(root=config.root)
    return LocalStorageClient()


@hookimpl
def dflow_storage_clients() -> list[StorageRecord]:
    return [
        StorageRecord(
            name="local",
            factory=_local_storage,
            config_type=LocalStorageConfig,
            description="artifacts in the local filesystem (the local engine's store)",
            artifact_kind="local",
        )
    ]

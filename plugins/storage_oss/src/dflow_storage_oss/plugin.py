"""Entry point of the ``dflow-storage-oss`` plugin (light: oss2 is imported by the client)."""

from __future__ import annotations

from dflow.plugins import hookimpl
from dflow.plugins.records import CacheAccess, StorageRecord

from .config import OSSConfig


def _make_client(config: OSSConfig | None = None):
    from .client import OSSClient

    return OSSClient.from_config(config or OSSConfig())


def _cache_access(config: OSSConfig | None = None) -> CacheAccess:
    """The step cache in an oss:// bucket: this storage's endpoint and key pair (V4 when
    ``auth_version`` is "v4", with ``region``), to the runner's DFLOW_CACHE_OSS_* variables."""
    from dflow.runner.oss import ACCESS_ENV, SECRET_ENV

    c = config or OSSConfig()
    endpoint = (c.endpoint or "").rstrip("/")
    if endpoint and "://" not in endpoint:
        endpoint = ("https://" if c.secure else "http://") + endpoint
    secrets = (
        (ACCESS_ENV, "accesskey", c.access_key_id or ""),
        (SECRET_ENV, "secretkey", c.access_key_secret or ""),
    )
    region = (c.region or "") if c.auth_version == "v4" else ""
    return CacheAccess(endpoint=endpoint, region=region, secrets=secrets)


@hookimpl
def dflow_storage_clients() -> list[StorageRecord]:
    return [
        StorageRecord(
            name="oss",
            factory=_make_client,
            config_type=OSSConfig,
            artifact_kind="oss",
            cache_access=_cache_access,
            description="Aliyun OSS bucket (oss2), configured by OSS_* env vars or [storages.oss]",
        )
    ]

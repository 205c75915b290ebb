"""dflow storage plugin for S3-compatible object stores (MinIO, AWS S3, SeaweedFS, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dflow.plugins import lazy_exports

if TYPE_CHECKING:
    from .client import MinioClient
    from .config import MinioConfig

__all__ = ["MinioClient", "MinioConfig"]
# the plugin's entry point imports this package in every dflow run: the names load on use
__getattr__ = lazy_exports(
    __name__,
    {
        "MinioClient": ".client",
        "MinioConfig": ".config",
    },
)

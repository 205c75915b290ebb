"""dflow storage plugin for S3-compatible object stores (MinIO, AWS S3, SeaweedFS, ...)."""

from __future__ import annotations

from .client import MinioClient
from .config import MinioConfig

__all__ = ["MinioClient", "MinioConfig"]

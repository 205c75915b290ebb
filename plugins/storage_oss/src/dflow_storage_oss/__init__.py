"""dflow storage plugin for Aliyun OSS: :class:`OSSClient` (pydflow's ``dflow.plugins.oss``)."""

from __future__ import annotations

from .client import OSSClient
from .config import OSSConfig

__all__ = ["OSSClient", "OSSConfig"]

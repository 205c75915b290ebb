"""dflow storage plugin for Google Cloud Storage: :class:`GCSClient`."""

from __future__ import annotations

from .client import GCSClient
from .config import GCSConfig

__all__ = ["GCSClient", "GCSConfig"]

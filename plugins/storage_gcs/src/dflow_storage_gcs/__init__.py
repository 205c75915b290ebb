"""dflow storage plugin for Google Cloud Storage: :class:`GCSClient`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dflow.plugins import lazy_exports

if TYPE_CHECKING:
    from .client import GCSClient
    from .config import GCSConfig

__all__ = ["GCSClient", "GCSConfig"]
# the plugin's entry point imports this package in every dflow run: the names load on use
__getattr__ = lazy_exports(
    __name__,
    {
        "GCSClient": ".client",
        "GCSConfig": ".config",
    },
)

"""dflow storage plugin for Aliyun OSS: :class:`OSSClient` (pydflow's ``dflow.plugins.oss``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dflow.plugins import lazy_exports

if TYPE_CHECKING:
    from .client import OSSClient
    from .config import OSSConfig

__all__ = ["OSSClient", "OSSConfig"]
# the plugin's entry point imports this package in every dflow run: the names load on use
__getattr__ = lazy_exports(
    __name__,
    {
        "OSSClient": ".client",
        "OSSConfig": ".config",
    },
)

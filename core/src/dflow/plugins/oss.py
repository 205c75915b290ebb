"""pydflow's ``dflow.plugins.oss``: now the ``dflow-storage-oss`` plugin.

Importing this module re-exports the plugin's ``OSSClient``, or raises ImportError saying what to
install.
"""

from __future__ import annotations

from dflow._compat import import_plugin_module

_plugin = import_plugin_module("dflow_storage_oss", "dflow.plugins.oss")

OSSClient = _plugin.OSSClient

__all__ = ["OSSClient"]


def __getattr__(name: str) -> object:
    try:
        return getattr(_plugin, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None

"""pydflow's ``dflow.plugins.dispatcher``: now the ``dflow-executor-dispatcher`` plugin.

Importing this module re-exports the plugin's names, or raises ImportError saying what to install.
"""

from __future__ import annotations

from dflow._compat import import_plugin_module

_plugin = import_plugin_module("dflow_executor_dispatcher", "dflow.plugins.dispatcher")

DispatcherExecutor = _plugin.DispatcherExecutor
DispatcherArtifact = _plugin.DispatcherArtifact

__all__ = ["DispatcherExecutor", "DispatcherArtifact"]


def __getattr__(name: str) -> object:
    # Other names that scripts imported from pydflow's module (update_dict, ...) come from the plugin.
    try:
        return getattr(_plugin, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None

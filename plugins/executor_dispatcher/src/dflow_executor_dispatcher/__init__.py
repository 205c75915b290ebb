"""dflow executor running script steps through DPDispatcher: ``DispatcherExecutor``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dflow.plugins import lazy_exports

if TYPE_CHECKING:
    from .executor import DispatcherArtifact, DispatcherExecutor, update_dict

__all__ = ["DispatcherArtifact", "DispatcherExecutor", "update_dict"]
# the plugin's entry point imports this package in every dflow run: the names load on use
__getattr__ = lazy_exports(
    __name__,
    {
        "DispatcherArtifact": ".executor",
        "DispatcherExecutor": ".executor",
        "update_dict": ".executor",
    },
)

"""dflow-engine-local: the embedded engine (``engine = "local"``, pydflow's ``mode = "debug"``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dflow.plugins import lazy_exports

if TYPE_CHECKING:
    from .config import LocalEngineConfig
    from .engine import LocalEngine

__all__ = ["LocalEngine", "LocalEngineConfig"]
# the plugin's entry point imports this package in every dflow run: the names load on use
__getattr__ = lazy_exports(
    __name__,
    {
        "LocalEngine": ".engine",
        "LocalEngineConfig": ".config",
    },
)

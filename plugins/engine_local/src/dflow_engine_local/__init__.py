"""dflow-engine-local: the embedded engine (``engine = "local"``, pydflow's ``mode = "debug"``)."""

from __future__ import annotations

__all__ = ["LocalEngine", "LocalEngineConfig"]


def __getattr__(name: str):
    if name == "LocalEngine":
        from .engine import LocalEngine

        return LocalEngine
    if name == "LocalEngineConfig":
        from .config import LocalEngineConfig

        return LocalEngineConfig
    raise AttributeError(name)

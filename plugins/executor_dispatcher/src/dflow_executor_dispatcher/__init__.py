"""dflow executor running script steps through DPDispatcher: ``DispatcherExecutor``."""

from __future__ import annotations

from .executor import DispatcherArtifact, DispatcherExecutor, update_dict

__all__ = ["DispatcherArtifact", "DispatcherExecutor", "update_dict"]

"""Example third-party executor: run script steps under ``nice``."""

from .executor import NiceConfig, NiceExecutor

__all__ = ["NiceConfig", "NiceExecutor"]

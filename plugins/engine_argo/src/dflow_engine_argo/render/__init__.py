"""Render dflow workflows to Argo ``Workflow`` manifests, and read manifests back."""

from __future__ import annotations

from .renderer import ArgoRenderer
from .values import RenderError

__all__ = ["ArgoRenderer", "RenderError"]

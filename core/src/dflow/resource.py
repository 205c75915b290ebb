"""``Resource``: a step completed by a Kubernetes resource (Argo ``resource`` templates)."""

from __future__ import annotations

import abc
from typing import Any


class Resource(abc.ABC):
    """A manifest applied by the step, then watched until a success or failure condition."""

    action: str | None = None
    success_condition: str | None = None
    failure_condition: str | None = None

    @abc.abstractmethod
    def get_manifest(self, template: Any) -> str:
        """The manifest (YAML or JSON text) for ``template``."""

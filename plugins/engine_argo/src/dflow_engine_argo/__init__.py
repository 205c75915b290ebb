"""dflow's Argo Workflows engine: lint manifests, submit and query through the Argo Server.

Importing this package is light; the REST client and the engine load on first use.
"""

from __future__ import annotations

__all__ = ["ArgoConfig"]

from .config import ArgoConfig

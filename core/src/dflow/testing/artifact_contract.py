"""Artifact API tests run on top of a storage client (part of the storage contract)."""

from __future__ import annotations


class ArtifactContract:
    """upload_artifact / download_artifact / copy_artifact against the ``client`` fixture."""

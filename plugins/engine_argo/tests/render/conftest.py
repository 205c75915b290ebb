"""Shared helpers: render, then validate against both strict schemas and the linter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def render():
    """``render(wf)``: the manifest, after asserting it is valid for Argo v3.7 and v4.1."""
    from argo_schema import assert_valid
    from dflow_engine_argo.lint import check
    from dflow_engine_argo.render import ArgoRenderer

    renderer = ArgoRenderer(artifact_kind="s3")

    def _render(wf, **options):
        r = ArgoRenderer(**options) if options else renderer
        manifest = r.manifest(wf)
        assert_valid(manifest)
        check(manifest)
        return manifest

    _render.renderer = renderer
    return _render

"""The renderer seam: what ``Workflow.to_dict()``/``lint()``/``from_dict()`` call.

A renderer plugin (the ``dflow_renderers`` hook) builds an object satisfying :class:`Renderer`;
its ``render()`` returns a :class:`Rendering`: the manifest together with everything the
manifest needs before it runs (code to upload, data to upload, secrets to create). Nothing is
left behind in the renderer to be fetched afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from .model.workflow import Workflow


def _frozen_paths(value: Mapping[str, Any]) -> Mapping[str, tuple[str, ...]]:
    return {str(k): tuple(v) for k, v in value.items()}


@attrs.frozen
class Rendering:
    """One rendered workflow and what it needs before it is submitted.

    ``packages``: ``{storage key: local paths}`` of the code the manifest's Python OPs download
    at run time (upload each key once, each path at the top level of the key).
    ``local_artifacts``: ``{storage key: local path}`` of the LocalArtifacts it reads.
    ``data``: ``{storage key: text}`` of the BigParameter values it reads, one object each.
    ``secrets``: the :class:`dflow.Secret`-like objects it names (unique by name); those with
    a value must exist before the workflow runs. Keys are content hashes: skip existing ones.
    """

    manifest: dict[str, Any]
    packages: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=_frozen_paths)
    local_artifacts: Mapping[str, str] = attrs.field(factory=dict)
    data: Mapping[str, str] = attrs.field(factory=dict)
    secrets: tuple[Any, ...] = attrs.field(default=(), converter=tuple)


@runtime_checkable
class Renderer(Protocol):
    """Turns a :class:`dflow.Workflow` into an engine's manifest, and back."""

    def render(self, workflow: Workflow) -> Rendering:
        """The manifest of ``workflow`` and what it needs; pure (no network, no uploads)."""
        ...

    def lint(self, workflow: Workflow) -> list[Any]:
        """Render and check the manifest as the engine would; raise on problems, return notes."""
        ...

    def from_dict(self, manifest: dict[str, Any]) -> Workflow:
        """A workflow of ``manifest`` (best effort: what the model can express)."""
        ...

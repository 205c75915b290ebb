"""Where a step's outputs go besides the step, and which inputs it reads from elsewhere:
storage keys (``save=[S3Artifact(key=...)]``) and shared volumes (``.pvc()``). One reading of
the model that validation and both engines share."""

from __future__ import annotations

from typing import Any

from .io import PVC, step_input_names


def volume_saves(step: Any) -> list[tuple[str, PVC]]:
    """(output artifact name, volume path) of each ``.pvc()`` save of a step."""
    return [
        (name, target)
        for name, art in step.outputs.artifacts.items()
        for target in art.save
        if isinstance(target, PVC)
    ]


def saved_key(art: Any, where: str) -> str | None:
    """The storage key output artifact ``art`` is also saved to (``save=[S3Artifact(key=...)]``,
    ``output_artifact_save``), None for none; a shared volume (``.pvc()``) is not a key.
    Argo stores an output at one location, so both engines take one: ``ValueError`` (its
    message starting with ``where``) for a target that is not an S3Artifact with a key, or
    for several keys."""
    targets = [t for t in art.save if not isinstance(t, PVC)]
    if not targets:
        return None
    from ..storage.artifacts import S3Artifact  # loaded by the workflows that save to keys

    keys = []
    for target in targets:
        if not isinstance(target, S3Artifact) or not target.full_key:
            raise ValueError(f"{where}: cannot save to {target!r}; give S3Artifact(key=...)")
        keys.append(target.full_key)
    if len(keys) > 1:
        raise ValueError(
            f"{where} is saved to {len(keys)} keys ({', '.join(keys)}); Argo stores an "
            "output at one location: keep one"
        )
    return keys[0]


def volume_reads(step: Any) -> list[tuple[str, PVC]]:
    """(input artifact name, volume path) of each input of a step fed by a ``PVC``."""
    out = []
    for name in step_input_names(step, "artifacts"):
        src = getattr(step.inputs.artifacts.get(name), "source", None)
        if isinstance(src, PVC):
            out.append((name, src))
    return out

"""The template and executor fields in a step's cache key, and the run's ``CacheSpec``.

Computed from the workflow's model on the client, the same way for every engine, so an entry
written by one engine is found by another: the template's declared ``image`` and ``command``
are in the key even where an engine does not use them (the local engine runs no image).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..runner.cache import CacheSpec, canonical
from .settings import CacheSettings, cache_enabled, cache_settings


def template_fields(step: Any, template: Any) -> dict[str, Any]:
    """image, command, a digest of the environment variables and the executor's kind: what,
    besides the OP and its inputs, can change a result."""
    envs = {str(k): str(getattr(v, "value", v)) for k, v in (template.envs or {}).items()}
    fields: dict[str, Any] = {
        "image": template.image,
        "command": list(template.command or []),
        # values may be secrets: only their digest is kept
        "envs": hashlib.sha256(canonical(envs).encode()).hexdigest() if envs else None,
    }
    if step.executor is not None:
        fields["executor"] = type(step.executor).__name__
    return fields


def cache_spec(
    step: Any,
    template: Any,
    workflow_name: str,
    run_id: str,
    step_path: str,
    settings: CacheSettings | None = None,
) -> CacheSpec | None:
    """The ``CacheSpec`` of one run of ``step``, or None when it does not use the cache.

    ``step_path`` names the step inside its workflow (no run id, no slice index), so runs of
    one workflow find each other's records.
    """
    settings = settings if settings is not None else cache_settings()
    if not cache_enabled(step, template, settings):
        return None
    return CacheSpec(
        root=settings.root,
        run=run_id,
        step=f"{workflow_name}/{step_path}",
        fields=template_fields(step, template),
    )

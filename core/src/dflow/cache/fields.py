"""The template and executor fields in a step's cache key, and the run's ``CacheSpec``.

Computed from the workflow's model on the client, the same way for every engine, so an entry
written by one engine is found by another: the template's declared ``image`` and ``command``
are in the key even where an engine does not use them (the local engine runs no image).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..runner.cache import CacheSpec, canonical
from ..runner.scriptcache import SCRIPT_FIELD
from .identity import step_identity
from .settings import CacheSettings, cache_enabled, cache_settings


def template_fields(step: Any, template: Any, executor: Any = None) -> dict[str, Any]:
    """image, command, a digest of the environment variables and the executor's kind: what,
    besides the OP and its inputs, can change a result; for a script, also its text's
    digest. ``executor``: the one that runs the step when it is not the step's own (a
    workflow's or dflow.toml's default), so both ways of choosing it give one key."""
    envs = {str(k): str(getattr(v, "value", v)) for k, v in (template.envs or {}).items()}
    fields: dict[str, Any] = {
        "image": template.image,
        "command": list(template.command or []),
        # values may be secrets: only their digest is kept
        "envs": hashlib.sha256(canonical(envs).encode()).hexdigest() if envs else None,
    }
    executor = step.executor if step.executor is not None else executor
    if executor is not None:
        fields["executor"] = type(executor).__name__
    if not _is_python_op(template):  # a script: its text (before substitution) is its code
        fields[SCRIPT_FIELD] = hashlib.sha256((template.script or "").encode()).hexdigest()
    return fields


def _is_python_op(template: Any) -> bool:
    from ..python.template import PythonOPTemplate

    return isinstance(template, PythonOPTemplate)


def cacheable(template: Any) -> bool:
    """Python OP and script templates are; HTTP requests are not (their answer is not a
    function of their inputs), nor are Steps/DAG templates (their leaves are)."""
    from ..model.op_template import ScriptOPTemplate

    return isinstance(template, ScriptOPTemplate)


def cache_spec(
    step: Any,
    template: Any,
    workflow_name: str,
    run_id: str,
    step_name: str,
    settings: CacheSettings | None = None,
    executor: Any = None,
) -> CacheSpec | None:
    """The ``CacheSpec`` of one run of ``step``, or None when it does not use the cache.

    ``step_name`` with the workflow's name is the step's identity across runs and engines
    (:mod:`.identity`), so runs of one workflow find each other's records. ``executor``:
    as in :func:`template_fields`.
    """
    if not cacheable(template):
        return None
    settings = settings if settings is not None else cache_settings()
    if not cache_enabled(step, template, settings):
        return None
    spec = CacheSpec(
        root=settings.root,
        run=run_id,
        step=step_identity(workflow_name, step_name),
        fields=template_fields(step, template, executor),
    )
    if settings.in_object_store:  # where the bucket is; credentials travel apart (env)
        access = settings.access()
        spec.endpoint, spec.region = access.endpoint, access.region
    return spec

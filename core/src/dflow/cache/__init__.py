"""The content-addressed step cache (client side): settings, keys' template fields, the
store's management (``dflow cache``) and explanations (``dflow explain``).

The check and the restore run in the OP runner (:mod:`dflow.runner.cache`), so every engine
behaves alike; see docs/cache.md for what a key holds.
"""

from __future__ import annotations

from typing import Any

from .explain import StepExplanation, explain_lines, explain_step
from .fields import cache_spec, template_fields
from .identity import canonical_identity, step_identity
from .settings import CacheSettings, cache_enabled, cache_settings, parse_size
from .store import CacheEntry, list_entries, prune, show_entry

__all__ = [
    "CacheEntry",
    "CacheSettings",
    "StepExplanation",
    "cache_enabled",
    "canonical_identity",
    "cache_settings",
    "cache_spec",
    "explain_lines",
    "explain_step",
    "list_entries",
    "parse_size",
    "prune",
    "runner_cache_json",
    "show_entry",
    "step_cache_json",
    "step_identity",
    "template_fields",
]


_SPECS: dict[tuple, str | None] = {}


def runner_cache_json(
    step: Any,
    template: Any,
    workflow_name: str,
    run_id: str,
    executor: Any = None,
    settings: Any = None,
) -> str | None:
    """The ``--cache`` argument of the runner for one run of ``step`` (None: no cache);
    ``executor``: the workflow's default that runs it, when it names none; ``settings``: the
    ``[cache]`` settings when the caller has read them (default: read them now).

    Computed once per step of a run: every slice of a fan-out shares it."""
    memo = (id(step), id(template), workflow_name, run_id, id(executor))
    if memo not in _SPECS:
        if len(_SPECS) > 4096:  # a long-lived process runs many workflows
            _SPECS.clear()
        spec = cache_spec(
            step, template, workflow_name, run_id, step.name, settings, executor=executor
        )
        _SPECS[memo] = spec.to_json() if spec is not None else None
    return _SPECS[memo]


def step_cache_json(step: Any, workflow_name: str, executor: Any = None) -> str | None:
    """The cache spec of a step using the cache, for an engine that fills in the run when it
    runs (Argo: the container script); ``executor`` as in :func:`runner_cache_json`."""
    return runner_cache_json(step, step.template, workflow_name, "", executor)

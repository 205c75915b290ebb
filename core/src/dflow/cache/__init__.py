"""The content-addressed step cache (client side): settings, keys' template fields, the
store's management (``dflow cache``) and explanations (``dflow explain``).

The check and the restore run in the OP runner (:mod:`dflow.runner.cache`), so every engine
behaves alike; see docs/cache.md for what a key holds.
"""

from __future__ import annotations

import re
from typing import Any

from .explain import StepExplanation, explain_step
from .fields import cache_spec, template_fields
from .settings import CacheSettings, cache_enabled, cache_settings, parse_size
from .store import CacheEntry, list_entries, prune, show_entry

__all__ = [
    "CacheEntry",
    "CacheSettings",
    "StepExplanation",
    "cache_enabled",
    "cache_settings",
    "cache_spec",
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

#: a loop item or slice index in an engine's step path: ``square(3:...)``, ``square[3]``
_INDEX = re.compile(r"\(\d+[^)]*\)|\[\d+\]")


def step_identity(path: str) -> str:
    """A step's path without item indices: every slice of a step shares its history."""
    return _INDEX.sub("", path)


def runner_cache_json(
    step: Any, template: Any, workflow_name: str, run_id: str, path: str
) -> str | None:
    """The ``--cache`` argument of the runner for one run of ``step`` (None: no cache)."""
    spec = cache_spec(step, template, workflow_name, run_id, step_identity(path))
    return spec.to_json() if spec is not None else None


def step_cache_json(step: Any, workflow_name: str) -> str | None:
    """The cache spec of a Python OP step using the cache, for an engine that fills in the
    run when it runs (Argo: the container script), with the step's name as its path."""
    from ..python.template import PythonOPTemplate

    if not isinstance(step.template, PythonOPTemplate):
        return None
    return runner_cache_json(step, step.template, workflow_name, "", step.name)

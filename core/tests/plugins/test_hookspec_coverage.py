"""Meta-test: every hookspec is documented with an example and exercised by a test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pluggy
import pytest
from dflow.plugins import hookspecs


def _hookspecs() -> list[str]:
    pm = pluggy.PluginManager("dflow")
    pm.add_hookspecs(hookspecs)
    return sorted(name for name in vars(pm.hook) if name.startswith("dflow_"))


def test_the_hookspecs_are_the_designed_ones() -> None:
    assert _hookspecs() == [
        "dflow_engines",
        "dflow_executors",
        "dflow_renderers",
        "dflow_step_event",
        "dflow_storage_clients",
    ]


@pytest.mark.parametrize("hook", _hookspecs())
def test_hookspec_has_docstring_with_example(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "Example::" in doc, f"{hook}: docstring needs an 'Example::' block"
    assert "@hookimpl" in doc and f"def {hook}(" in doc, f"{hook}: the example implements it"
    assert inspect.signature(getattr(hookspecs, hook)).return_annotation != inspect._empty


@pytest.mark.parametrize("hook", _hookspecs())
def test_hookspec_has_a_test(hook: str) -> None:
    tests = (Path(__file__).parent / "test_hooks.py").read_text()
    assert re.search(rf"^def test_{hook}\(", tests, re.M), f"test_hooks.py lacks test_{hook}"

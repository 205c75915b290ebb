"""The dflow plugin system.

Plugins are distributions that register a module in the ``dflow`` entry-point group and
implement the hooks of :mod:`dflow.plugins.hookspecs` with :data:`hookimpl`::

    from dflow import hookimpl
    from dflow.plugins.records import ExecutorRecord

    @hookimpl
    def dflow_executors():
        return [ExecutorRecord(name="my-executor", factory=MyExecutor)]

Nothing is loaded when this package is imported: entry points are loaded by the plugin
manager (:func:`dflow.plugins.manager.get_plugin_manager`) at the first name lookup.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

import pluggy

hookimpl = pluggy.HookimplMarker("dflow")
"""Marks a function as the implementation of a dflow hook."""


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A package ``__getattr__`` that imports ``name`` from the submodule ``exports[name]``
    (relative to ``package``, e.g. ``".client"``) on first use.

    The plugin manager imports every installed plugin's entry-point module in each run, and
    with it the plugin's package: a package that imported its client (and SDK) at the top made
    every run pay for every installed plugin. Pair it with the same imports under
    ``if TYPE_CHECKING:`` so type checkers see the names.
    """

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where, package), name)
        setattr(sys.modules[package], name, value)  # found directly from now on
        return value

    return __getattr__


__all__ = ["hookimpl", "lazy_exports"]

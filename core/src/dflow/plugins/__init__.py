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

import pluggy

hookimpl = pluggy.HookimplMarker("dflow")
"""Marks a function as the implementation of a dflow hook."""

__all__ = ["hookimpl"]

"""Loading plugins and resolving names: the one place that knows which plugin provides what.

Entry points of the ``dflow`` group are loaded lazily (at the first lookup), one at a time; a
plugin that fails to import is logged with its distribution and version and skipped. Hooks are
called through pluggy (``pm.hook``), one plugin at a time in :meth:`PluginManager.call`, so a
plugin whose hook raises is named, logged and skipped without hiding the others. Operators
filter plugins with ``DFLOW_PLUGINS`` (allow-list of entry-point names) and
``DFLOW_DISABLE_PLUGINS`` (deny-list; ``*`` or ``all`` disables every external plugin). Core's
own :mod:`dflow.plugins.builtin` is always registered.
"""

from __future__ import annotations

import difflib
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

import attrs
import pluggy

from .._compat import FIRST_PARTY as _DISTRIBUTIONS
from . import hookspecs
from .discovery import FoundEntryPoint, Installed, installed
from .records import (
    EngineRecord,
    ExecutorRecord,
    RendererRecord,
    StepEvent,
    StorageRecord,
)

log = logging.getLogger("dflow.plugins")

GROUP = "dflow"
"""The entry-point group every dflow plugin registers in."""

#: kind -> (hook name, record type)
KINDS: dict[str, tuple[str, type]] = {
    "engine": ("dflow_engines", EngineRecord),
    "storage": ("dflow_storage_clients", StorageRecord),
    "executor": ("dflow_executors", ExecutorRecord),
    "renderer": ("dflow_renderers", RendererRecord),
}

#: Our first-party names -> the distribution that provides them (for "pip install" hints),
#: by kind; a view of the one table, ``dflow._compat.FIRST_PARTY``.
FIRST_PARTY: dict[str, dict[str, str]] = {}
for _dist in _DISTRIBUTIONS:
    for _kind, _names in _dist.provides.items():
        FIRST_PARTY.setdefault(_kind, {}).update(dict.fromkeys(_names, _dist.name))

#: pydflow's names for engines and stores, resolved when no plugin claims them itself.
CORE_ALIASES: dict[str, dict[str, str]] = {
    "engine": {"debug": "local", "default": "argo"},
    "storage": {"s3": "minio"},
}

_ALL = frozenset({"*", "all"})


class PluginError(Exception):
    """A plugin is broken or two plugins conflict (the message names them and what to do)."""


class PluginNotFoundError(PluginError, LookupError, ImportError):
    """No installed plugin provides the requested name.

    A ``LookupError`` (an unknown name) and an ``ImportError`` (a missing distribution).
    """


@attrs.frozen
class PluginInfo:
    """One registered plugin, as ``dflow plugins`` shows it."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...] = ()


@attrs.frozen
class PluginFailure:
    """An entry point that could not be loaded (or whose ``hook`` raised), and why."""

    name: str
    distribution: str
    version: str
    error: str
    hook: str | None = None


def _split(value: str | None) -> set[str] | None:
    if value is None or not value.strip():
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


class PluginManager:
    """dflow's plugin registry: a ``pluggy.PluginManager("dflow")`` plus name resolution.

    ``allow``/``deny`` override ``DFLOW_PLUGINS``/``DFLOW_DISABLE_PLUGINS`` (read at load);
    ``entry_points=False`` registers only the builtin plugin (and what you ``register``).
    """

    def __init__(
        self,
        *,
        entry_points: bool = True,
        allow: Iterable[str] | None = None,
        deny: Iterable[str] | None = None,
    ) -> None:
        self._pm = pluggy.PluginManager("dflow")
        self._pm.add_hookspecs(hookspecs)
        self._use_entry_points = entry_points
        self._allow = set(allow) if allow is not None else None
        self._deny = set(deny) if deny is not None else None
        self._info: dict[str, PluginInfo] = {}
        self._skipped: dict[str, PluginInfo] = {}  # filtered out by allow/deny lists
        self.failures: list[PluginFailure] = []
        self._tables: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._callers: dict[tuple[str, str], Any] = {}  # (hook, plugin) -> pluggy subset caller
        self._loaded = False
        self._loading = False
        self._load_error: PluginError | None = None
        self._lock = threading.RLock()

    # -- loading ------------------------------------------------------------------------------

    def load(self) -> None:
        """Register the builtin plugin and the allowed entry points (once).

        A plugin error (an unknown hook, say) is raised again on every later lookup: a broken
        installation must not half-work.
        """
        if self._loaded:  # fast path: engines emit step events from many threads
            if self._load_error is not None:
                raise self._load_error
            return
        with self._lock:
            if self._loaded or self._loading:  # done, or re-entered from a plugin's import
                return
            self._loading = True
            try:
                from . import builtin

                found = installed(GROUP)
                self.register(
                    builtin, "builtin", distribution="dflow-core", version=found.core_version
                )
                if self._use_entry_points:
                    self._load_entry_points(found)
                try:
                    self._pm.check_pending()
                except pluggy.PluginValidationError as exc:
                    raise PluginError(
                        f"{exc}; fix the plugin or disable it with DFLOW_DISABLE_PLUGINS"
                    )
            except PluginError as exc:
                self._load_error = exc
                raise
            finally:
                self._loading = False
                self._loaded = True

    def _filters(self) -> tuple[set[str] | None, set[str]]:
        allow = self._allow if self._allow is not None else _split(os.environ.get("DFLOW_PLUGINS"))
        deny = (
            self._deny
            if self._deny is not None
            else _split(os.environ.get("DFLOW_DISABLE_PLUGINS"))
        )
        return allow, deny or set()

    def _load_entry_points(self, found: Installed) -> None:
        failed = self._load_points(found.entry_points)
        if failed and found.from_cache:
            # the installation changed in a way the fingerprint missed (a custom finder):
            # search afresh, and load what the search finds that was not loaded yet
            fresh = installed(GROUP, fresh=True)
            if fresh.entry_points != found.entry_points:
                log.debug("dflow plugins: the cached entry points were stale; searched again")
                self.failures = [f for f in self.failures if f.name not in failed]
                self._load_points([p for p in fresh.entry_points if p.name not in self._info])

    def _load_points(self, points: Iterable[FoundEntryPoint]) -> set[str]:
        """Register each allowed entry point; the names of those that failed to load."""
        allow, deny = self._filters()
        failed = set()
        for ep in points:
            dist_name, version = ep.distribution, ep.version
            if deny & _ALL or ep.name in deny or (allow is not None and ep.name not in allow):
                log.debug(
                    "dflow plugin %r (%s %s) disabled by configuration", ep.name, dist_name, version
                )
                self._skipped[ep.name] = PluginInfo(ep.name, dist_name, version)
                continue
            if ep.name in self._info:
                other = self._info[ep.name]
                raise PluginError(
                    f"two distributions register the dflow entry point '{ep.name}': "
                    f"{other.distribution} {other.version} and {dist_name} {version}; "
                    "uninstall one of them"
                )
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not break dflow
                log.warning(
                    "dflow plugin %r from %s %s failed to load and is skipped: %s: %s",
                    ep.name,
                    dist_name,
                    version,
                    type(exc).__name__,
                    exc,
                )
                self.failures.append(
                    PluginFailure(ep.name, dist_name, version, f"{type(exc).__name__}: {exc}")
                )
                failed.add(ep.name)
                continue
            self.register(plugin, ep.name, distribution=dist_name, version=version)
        return failed

    def register(
        self,
        plugin: object,
        name: str | None = None,
        *,
        distribution: str | None = None,
        version: str = "",
    ) -> str:
        """Register ``plugin`` (a module or object with ``@hookimpl`` functions).

        Raises :class:`PluginError` when it implements a hook dflow does not know.
        """
        with self._lock:
            label = name or getattr(plugin, "__name__", None) or repr(plugin)
            dist = distribution or "registered directly"
            where = f"plugin '{label}' ({dist}{' ' + version if version else ''})"
            try:
                registered = self._pm.register(plugin, label)
            except pluggy.PluginValidationError as exc:
                raise PluginError(f"{where} is invalid: {exc}")
            except ValueError as exc:
                raise PluginError(f"{where} cannot be registered: {exc}")
            assert registered is not None
            hooks = []
            for caller in self._pm.get_hookcallers(plugin) or []:
                if not caller.has_spec():
                    self._pm.unregister(plugin)
                    raise PluginError(self._unknown_hook_message(where, label, caller.name))
                hooks.append(caller.name)
            self._info[label] = PluginInfo(label, dist, version, tuple(sorted(hooks)))
            self._tables.clear()
            self._callers.clear()
            return label

    def _unknown_hook_message(self, where: str, label: str, hook: str) -> str:
        known = sorted(name for name in dir(hookspecs) if name.startswith("dflow_"))
        close = difflib.get_close_matches(hook, known, n=1)
        hint = (
            f" (did you mean '{close[0]}'?)" if close else f"; dflow's hooks are {', '.join(known)}"
        )
        return (
            f"{where} implements unknown hook '{hook}'{hint}. Fix the plugin, or disable it "
            f"with DFLOW_DISABLE_PLUGINS={label}"
        )

    def unregister(self, name: str) -> None:
        """Remove a registered plugin by name."""
        with self._lock:
            self._pm.unregister(name=name)
            self._info.pop(name, None)
            self._tables.clear()
            self._callers.clear()

    # -- name resolution ----------------------------------------------------------------------

    def _table(self, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(name-or-alias -> record, record name -> providing plugin) for ``kind``."""
        self.load()
        cached = self._tables.get(kind)
        if cached is not None:
            return cached
        with self._lock:
            if kind in self._tables:
                return self._tables[kind]
            hook_name, record_type = KINDS[kind]
            table: dict[str, Any] = {}
            owners: dict[str, PluginInfo] = {}
            for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                info = self._info.get(impl.plugin_name) or PluginInfo(impl.plugin_name, "?", "")
                for record in self._records_of(info, hook_name, record_type):
                    for key in (record.name, *record.aliases):
                        if key in owners and table[key] is not record:
                            other = owners[key]
                            raise PluginError(
                                f"{kind} name '{key}' is provided twice: by {other.distribution} "
                                f"(plugin '{other.name}') and by {info.distribution} (plugin "
                                f"'{info.name}'); uninstall one, or disable one with "
                                f"DFLOW_DISABLE_PLUGINS"
                            )
                        table[key] = record
                        owners[key] = info
            self._tables[kind] = (table, owners)
            return table, owners

    def call(
        self, hook: str, plugin: str, *, about: str = "", **kwargs: Any
    ) -> tuple[bool, list[Any]]:
        """Call ``hook`` of one registered ``plugin`` through pluggy: ``(ok, results)``.

        The one place a plugin's exception is caught: it is logged with the plugin's name,
        distribution and version (and ``about``, what the call was for), recorded in
        :attr:`failures` (once per plugin and hook), and ``(False, [])`` returned, so one
        broken plugin never hides the others.
        """
        key = (hook, plugin)
        caller = self._callers.get(key)
        if caller is None:
            others = [p for name, p in self._pm.list_name_plugin() if name != plugin]
            caller = self._callers[key] = self._pm.subset_hook_caller(hook, others)
        try:
            return True, caller(**kwargs)
        except Exception as exc:
            info = self._info.get(plugin) or PluginInfo(plugin, "registered directly", "")
            log.warning(
                "dflow plugin %r (%s): hook %s raised%s and is skipped: %s: %s",
                info.name,
                f"{info.distribution} {info.version}".strip(),
                hook,
                f" on {about}" if about else "",
                type(exc).__name__,
                exc,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            if not any(f.name == info.name and f.hook == hook for f in self.failures):
                self.failures.append(
                    PluginFailure(
                        info.name, info.distribution, info.version, f"{hook}: {exc!r}", hook
                    )
                )
            return False, []

    def _records_of(self, info: PluginInfo, hook: str, record_type: type) -> list:
        ok, results = self.call(hook, info.name)
        if not ok or not results:
            return []
        [result] = results  # one plugin: pluggy collected its one non-None return value
        if isinstance(result, record_type) or isinstance(result, dict | str):
            raise PluginError(
                f"hook {hook} of plugin '{info.name}' ({info.distribution}) returned "
                f"{type(result).__name__}; it must return a list of {record_type.__name__}"
            )
        records = list(result)
        for record in records:
            if not isinstance(record, record_type):
                raise PluginError(
                    f"hook {hook} of plugin '{info.name}' ({info.distribution}) returned a "
                    f"{type(record).__name__}; it must return {record_type.__name__} records"
                )
        return records

    def records(self, kind: str) -> dict[str, Any]:
        """Installed records of ``kind`` by their canonical name."""
        table, _ = self._table(kind)
        return {rec.name: rec for rec in table.values()}

    def provider(self, kind: str, name: str) -> PluginInfo:
        """The plugin providing ``name`` (after :meth:`get` succeeded)."""
        record = self.get(kind, name)
        return self._table(kind)[1][record.name]

    def get(self, kind: str, name: str) -> Any:
        """The record of ``kind`` called ``name`` (aliases honoured)."""
        if kind not in KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; expected one of {', '.join(KINDS)}")
        table, _ = self._table(kind)
        if name in table:
            return table[name]
        alias = CORE_ALIASES.get(kind, {}).get(name)
        if alias is not None and alias in table:
            return table[alias]
        raise PluginNotFoundError(self._not_found_message(kind, name, table))

    def _not_found_message(self, kind: str, name: str, table: dict[str, Any]) -> str:
        installed = ", ".join(sorted({rec.name for rec in table.values()})) or "none"
        dist = FIRST_PARTY.get(kind, {}).get(name)
        if dist is None:
            close = difflib.get_close_matches(name, list(table), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            hook = KINDS[kind][0]
            broken = [  # a plugin that failed to load, or to list names of this kind
                f"plugin '{f.name}' ({f.distribution} {f.version}) failed: {f.error}"
                for f in self.failures
                if f.hook in (None, hook)
            ]
            failed = f"; it may come from a broken plugin: {'; '.join(broken)}" if broken else ""
            return f"no {kind} named '{name}' is installed{hint}; installed: {installed}{failed}"
        for failure in self.failures:
            if failure.distribution == dist:
                return (
                    f"{kind} '{name}' comes from {dist} {failure.version}, which failed to load "
                    f"({failure.error}); installed: {installed}"
                )
        for skipped in self._skipped.values():
            if skipped.distribution == dist:
                return (
                    f"{kind} '{name}' comes from {dist}, whose plugin '{skipped.name}' is "
                    f"disabled (DFLOW_PLUGINS / DFLOW_DISABLE_PLUGINS); installed: {installed}"
                )
        return f"{kind} '{name}' is not installed (pip install {dist}); installed: {installed}"

    def engine(self, name: str) -> EngineRecord:
        return self.get("engine", name)

    def storage(self, name: str) -> StorageRecord:
        return self.get("storage", name)

    def executor(self, name: str) -> ExecutorRecord:
        return self.get("executor", name)

    def renderer(self, name: str) -> RendererRecord:
        return self.get("renderer", name)

    def engines(self) -> dict[str, EngineRecord]:
        return self.records("engine")

    def storages(self) -> dict[str, StorageRecord]:
        return self.records("storage")

    def executors(self) -> dict[str, ExecutorRecord]:
        return self.records("executor")

    def renderers(self) -> dict[str, RendererRecord]:
        return self.records("renderer")

    # -- events and introspection -------------------------------------------------------------

    def emit_step_event(self, event: StepEvent) -> None:
        """Deliver ``event`` to every observer; an observer's exception is logged, not raised."""
        self.load()
        for impl in self._pm.hook.dflow_step_event.get_hookimpls():
            about = f"{event.workflow_id}/{event.name} ({event.phase})"
            self.call("dflow_step_event", impl.plugin_name, about=about, event=event)

    def describe(self) -> list[PluginInfo]:
        """Registered plugins: entry-point name, distribution, version, hooks implemented."""
        self.load()
        return list(self._info.values())

    def disabled(self) -> list[PluginInfo]:
        """Entry points left out by ``DFLOW_PLUGINS`` / ``DFLOW_DISABLE_PLUGINS``."""
        self.load()
        return list(self._skipped.values())


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, created on first use."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = PluginManager()
        return _manager


def reset_plugin_manager(manager: PluginManager | None = None) -> None:
    """Drop the process-wide manager (or install ``manager``); for tests and long-lived hosts."""
    global _manager
    with _manager_lock:
        _manager = manager

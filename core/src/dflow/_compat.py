"""pydflow import paths: names that now live in plugin distributions, and names we refuse.

``dflow/__init__.py`` forwards unknown attributes here (module ``__getattr__``), so
``from dflow import SlurmJobTemplate`` keeps working when ``dflow-executor-slurm`` is installed
and says what to install when it is not. :func:`module_getattr` gives any pydflow-path module
the same behaviour, plus :class:`NotProvidedError` for pydflow names dflow does not provide,
with what to use instead (``core/tests/compat`` checks every name of pydflow's surface).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any


class NotProvidedError(ImportError):
    """A pydflow module or name dflow does not provide; the message says what to use instead.

    An ``ImportError``, so ``from dflow.x import name`` shows the message itself.
    """


def not_provided(what: str, instead: str) -> NotProvidedError:
    """The error for pydflow's ``what`` (``dflow.step.render_expr``): ``instead`` says why/what."""
    return NotProvidedError(f"{what} is not provided by dflow: {instead}", name=what)


def refused_function(what: str, instead: str) -> Callable[..., Any]:
    """A stand-in for a pydflow function a module must keep exporting (it is in ``__all__``):
    calling it raises :class:`NotProvidedError`; ``.not_provided`` holds the message."""

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise not_provided(what, instead)

    refused.__name__ = refused.__qualname__ = what.rpartition(".")[2]
    refused.__doc__ = f"Not provided by dflow: {instead}"
    refused.not_provided = f"{what} is not provided by dflow: {instead}"  # type: ignore[attr-defined]
    return refused


def module_getattr(
    module: str,
    refused: Mapping[str, str] | None = None,
    moved: Mapping[str, str] | None = None,
    plugins: Mapping[str, tuple[str, str]] | None = None,
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for a pydflow import path.

    ``refused``: name -> what to use instead (raises :class:`NotProvidedError`);
    ``moved``: name -> ``"module:attr"`` imported on first use; ``plugins``: name ->
    (plugin module, distribution), imported with an install hint when missing.
    """
    refused, moved, plugins = dict(refused or {}), dict(moved or {}), dict(plugins or {})

    def __getattr__(name: str) -> Any:
        if name in refused:
            raise not_provided(f"{module}.{name}", refused[name])
        if name in moved:
            where, _, attr = moved[name].partition(":")
            return getattr(importlib.import_module(where), attr or name)
        if name in plugins:
            plugin_module, dist = plugins[name]
            plugin = import_plugin_module(plugin_module, f"{module}.{name}")
            try:
                return getattr(plugin, name)
            except AttributeError:
                raise ImportError(
                    f"{module}.{name}: the installed {dist} does not provide {name}; "
                    f"upgrade it (pip install -U {dist})",
                    name=plugin_module,
                ) from None
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


#: name in ``dflow`` -> (plugin module, distribution)
PLUGIN_NAMES: dict[str, tuple[str, str]] = {
    "SlurmJob": ("dflow_executor_slurm", "dflow-executor-slurm"),
    "SlurmJobTemplate": ("dflow_executor_slurm", "dflow-executor-slurm"),
    "SlurmRemoteExecutor": ("dflow_executor_slurm", "dflow-executor-slurm"),
    "DispatcherExecutor": ("dflow_executor_dispatcher", "dflow-executor-dispatcher"),
    "OSSClient": ("dflow_storage_oss", "dflow-storage-oss"),
}

#: plugin module -> distribution, for the compatibility modules under dflow.plugins
PLUGIN_MODULES: dict[str, str] = {module: dist for module, dist in PLUGIN_NAMES.values()}


def _distribution(module: str) -> str:
    return PLUGIN_MODULES.get(module) or module.replace("_", "-")


def import_plugin_module(module: str, needed_by: str) -> ModuleType:
    """Import a plugin's package, or raise ImportError naming the distribution to install.

    An ImportError raised *inside* an installed plugin (a missing SDK, say) propagates as is.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        dist = _distribution(module)
        raise ImportError(
            f"{needed_by} needs the {dist} plugin: pip install {dist}", name=module
        ) from None


def lazy_attr(name: str) -> object:
    """The value of ``dflow.<name>`` for names provided by plugins.

    Raises AttributeError for names that are not plugin-provided (so ``hasattr`` and
    ``from dflow import typo`` behave as usual) and ImportError when the plugin is missing.
    """
    try:
        module, dist = PLUGIN_NAMES[name]
    except KeyError:
        raise AttributeError(f"module 'dflow' has no attribute {name!r}") from None
    plugin = import_plugin_module(module, f"dflow.{name}")
    try:
        return getattr(plugin, name)
    except AttributeError:
        raise ImportError(
            f"dflow.{name}: the installed {dist} does not provide {name}; "
            f"upgrade it (pip install -U {dist})",
            name=module,
        ) from None

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
from typing import Any, NamedTuple


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


class Distribution(NamedTuple):
    """One of our plugin distributions: what it is called and what it provides."""

    name: str  # for pip install
    package: str  # for import
    provides: dict[str, tuple[str, ...]]  # plugin kind -> names (aliases included)
    exports: tuple[str, ...] = ()  # pydflow names it provides (dflow.X, dflow.plugins.y.X)


#: THE table of which first-party distribution provides which name; everything else
#: (install hints of the plugin manager, of ``dflow.X`` and of the pydflow modules) derives
#: from it
FIRST_PARTY: tuple[Distribution, ...] = (
    Distribution("dflow-engine-local", "dflow_engine_local", {"engine": ("local", "debug")}),
    Distribution(
        "dflow-engine-argo",
        "dflow_engine_argo",
        {"engine": ("argo", "default"), "renderer": ("argo",)},
    ),
    Distribution(
        "dflow-storage-minio", "dflow_storage_minio", {"storage": ("minio", "s3")}, ("MinioClient",)
    ),
    Distribution("dflow-storage-oss", "dflow_storage_oss", {"storage": ("oss",)}, ("OSSClient",)),
    Distribution("dflow-storage-gcs", "dflow_storage_gcs", {"storage": ("gcs",)}),
    Distribution(
        "dflow-executor-dispatcher",
        "dflow_executor_dispatcher",
        {"executor": ("dispatcher",)},
        ("DispatcherExecutor",),
    ),
    Distribution(
        "dflow-executor-slurm",
        "dflow_executor_slurm",
        {"executor": ("slurm", "slurm-remote", "slurm-job")},
        ("SlurmJob", "SlurmJobTemplate", "SlurmRemoteExecutor"),
    ),
)

#: plugin package -> distribution
PLUGIN_MODULES: dict[str, str] = {d.package: d.name for d in FIRST_PARTY}

#: pydflow name -> (plugin package, distribution)
PLUGIN_NAMES: dict[str, tuple[str, str]] = {
    name: (d.package, d.name) for d in FIRST_PARTY for name in d.exports
}


def plugin_names(package: str) -> dict[str, tuple[str, str]]:
    """The pydflow names ``package`` provides, as :func:`module_getattr` takes them."""
    return {n: where for n, where in PLUGIN_NAMES.items() if where[0] == package}


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

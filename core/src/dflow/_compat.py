"""pydflow import paths for names that now live in plugin distributions.

``dflow/__init__.py`` forwards unknown attributes here (module ``__getattr__``), so
``from dflow import SlurmJobTemplate`` keeps working when ``dflow-executor-slurm`` is installed
and says what to install when it is not.
"""

from __future__ import annotations

import importlib
from types import ModuleType

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

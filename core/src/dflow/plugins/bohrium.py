"""pydflow's ``dflow.plugins.bohrium``: Bohrium platform support is not part of dflow.

Importing this module raises ImportError explaining the alternatives, unless a third-party
``dflow_bohrium`` package is installed, whose names it then re-exports.
"""

from __future__ import annotations

try:
    import dflow_bohrium as _plugin
except ModuleNotFoundError as exc:
    if exc.name != "dflow_bohrium":
        raise
    raise ImportError(
        "dflow.plugins.bohrium is not provided by dflow: Bohrium support lives outside this "
        "project. Run Bohrium jobs through DispatcherExecutor with a Bohrium machine "
        "(pip install dflow-executor-dispatcher), or install a package that provides "
        "the 'dflow_bohrium' module",
        name=__name__,
    ) from None


def __getattr__(name: str) -> object:
    try:
        return getattr(_plugin, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None

"""pydflow's ``dflow.plugins.bohrium``: Bohrium platform support is not part of dflow.

Importing this module raises :class:`dflow._compat.NotProvidedError` (an ImportError)
explaining the alternatives, unless a third-party ``dflow_bohrium`` package is installed, whose
names it then re-exports.
"""

from __future__ import annotations

from dflow._compat import not_provided

try:
    import dflow_bohrium as _plugin
except ModuleNotFoundError as exc:
    if exc.name != "dflow_bohrium":
        raise
    raise not_provided(
        "dflow.plugins.bohrium",
        "Bohrium support lives outside this project. Run Bohrium jobs through "
        "DispatcherExecutor with a Bohrium machine (pip install dflow-executor-dispatcher), or "
        "install a package that provides the 'dflow_bohrium' module",
    ) from None


def __getattr__(name: str) -> object:
    try:
        return getattr(_plugin, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None

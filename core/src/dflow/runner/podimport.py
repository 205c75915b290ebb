"""Inside a pod, client-only parts of dflow that cannot import become inert placeholders.

An OP's module often starts with ``from dflow import Workflow, Step, upload_artifact`` and
``from dflow.python import PythonOPTemplate``, and may even build ``tmpl =
PythonOPTemplate(MyOP, image=...)`` at module level. The pod runs only the OP, with the pod
runtime (:data:`RUNTIME_MODULES`, Python 3.7+, standard library only) and, unless
``upload_dflow=False``, the rest of dflow with its dependencies, which need Python 3.10+.

The rule, active only in ``python -m dflow.runner`` (never in the client):

* A runtime module imports as usual; an error there is an error.
* Any other ``dflow.*`` module, and dflow's plugin packages (``dflow_engine_*``,
  ``dflow_storage_*``, ``dflow_executor_*``), is imported for real when it can be, so on a
  3.10+ image with
  the full dflow shipped the real ``Workflow`` is used. When it is not shipped, raises while
  importing (an old Python, a missing dependency) or ends up holding placeholders itself, it
  becomes a placeholder module.
* A name looked up on a placeholder module (or a plugin-provided ``dflow.<name>`` that cannot
  import) is a placeholder: a class when the name starts with an upper-case letter (construct
  it, subclass it: instances are inert), else a function. Calling a function or a method of an
  inert instance, or entering one with ``with``, raises :class:`ClientOnlyError`, which names
  the name, the pod's Python and what to do.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import types
from typing import Any, cast

#: the modules of the pod runtime: they import on CPython 3.7+ with the standard library
#: alone (typeguard, jsonpickle and h5py are used when importable)
RUNTIME_MODULES = (
    "dflow",
    "dflow._compat",
    "dflow.catalog",
    "dflow.config",
    "dflow.config_keys",
    "dflow.fileio",
    "dflow.names",
    "dflow.serialization",
    "dflow.python",
    "dflow.python.errors",
    "dflow.python.function_op",
    "dflow.python.op",
    "dflow.python.opio",
    "dflow.python.python_op_template",
    "dflow.python.sign_check",
    "dflow.python.slices",
    "dflow.python.typecheck",
    "dflow.runner",
    "dflow.runner.__main__",
    "dflow.runner.cache",
    "dflow.runner.cacheentries",
    "dflow.runner.cacheobj",
    "dflow.runner.cacheop",
    "dflow.runner.caches3",
    "dflow.runner.core",
    "dflow.runner.gcs",
    "dflow.runner.group",
    "dflow.runner.hdf5",
    "dflow.runner.inputs",
    "dflow.runner.locate",
    "dflow.runner.oss",
    "dflow.runner.outputs",
    "dflow.runner.podimport",
    "dflow.runner.result",
    "dflow.runner.scriptcache",
    "dflow.runner.s3",
    "dflow.runner.threshold",
)
_RUNTIME = frozenset(RUNTIME_MODULES)
#: dflow's plugin distributions: client-side too (a script importing them may be shipped)
_PLUGIN_PREFIXES = ("dflow_engine_", "dflow_storage_", "dflow_executor_")


class ClientOnlyError(RuntimeError):
    """Client-side dflow (building, submitting, uploading) was called inside a pod."""


def _python() -> str:
    return f"Python {sys.version.split()[0]} ({sys.executable})"


def client_only_error(name: str, reason: str) -> ClientOnlyError:
    return ClientOnlyError(
        f"{name} is client-side dflow and cannot run inside this pod, which runs the OP with "
        f"{_python()}: {reason}. Keep workflow code (building, submitting, uploading) under "
        '`if __name__ == "__main__":` or out of the OP\'s module; to use the client in an OP, '
        "ship the full dflow (upload_dflow=True) to an image with Python 3.10+"
    )


class Stub:
    """A client-only function (or attribute): calling it raises :class:`ClientOnlyError`."""

    _dflow_client_only = True

    def __init__(self, name: str, reason: str) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_reason", reason)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise client_only_error(self._name, self._reason)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Stub(f"{self._name}.{attr}", self._reason)

    def __getitem__(self, key: Any) -> Any:
        return Stub(f"{self._name}[{key!r}]", self._reason)

    def __setitem__(self, key: Any, value: Any) -> None:
        pass  # module-level configuration of a client object: inert

    def __iter__(self) -> Any:
        raise client_only_error(self._name, self._reason)

    def __enter__(self) -> Any:
        raise client_only_error(f"with {self._name}", self._reason)

    def __exit__(self, *exc: Any) -> None:
        pass  # never entered: __enter__ raises

    def __repr__(self) -> str:
        return f"<client-only {self._name}>"


class _InertMeta(type):
    def __getattr__(cls, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Stub(f"{cls._dflow_name}.{attr}", cls._dflow_reason)


class Inert(metaclass=_InertMeta):
    """Base of client-only classes: construction works, instances are inert."""

    _dflow_client_only = True
    _dflow_name = "dflow"
    _dflow_reason = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Stub(f"{self._dflow_name}(...).{attr}", self._dflow_reason)

    def __getitem__(self, key: Any) -> Any:
        return Stub(f"{self._dflow_name}(...)[{key!r}]", self._dflow_reason)

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def __enter__(self) -> Any:
        raise client_only_error(f"with {self._dflow_name}(...)", self._dflow_reason)

    def __exit__(self, *exc: Any) -> None:
        pass  # never entered: __enter__ raises

    def __repr__(self) -> str:
        return f"<client-only {self._dflow_name} instance>"


_classes: dict = {}


def placeholder(name: str, reason: str) -> Any:
    """The placeholder of ``name`` (dotted): a class for Capitalised names, else a Stub."""
    short = name.rsplit(".", 1)[-1]
    if not short[:1].isupper():
        return Stub(name, reason)
    cls = _classes.get(name)
    if cls is None:
        cls = _InertMeta(
            short,
            (Inert,),
            {"_dflow_name": name, "_dflow_reason": reason, "__module__": name.rsplit(".", 1)[0]},
        )
        _classes[name] = cls
    return cls


def is_placeholder(value: Any) -> bool:
    if isinstance(value, Stub):
        return True
    if isinstance(value, type):
        return issubclass(value, Inert)
    return isinstance(value, types.ModuleType) and "__dflow_client_only__" in vars(value)


def _make_placeholder(module: types.ModuleType, reason: str) -> None:
    keep = ("__name__", "__loader__", "__package__", "__spec__", "__path__", "__file__")
    saved = {k: v for k, v in vars(module).items() if k in keep}
    vars(module).clear()
    vars(module).update(saved)
    name = module.__name__

    def attr(short: str) -> Any:
        if short.startswith("__"):
            raise AttributeError(f"module '{name}' has no attribute '{short}'")
        return placeholder(f"{name}.{short}", reason)

    vars(module).update(__dflow_client_only__=reason, __getattr__=attr)  # PEP 562


class _Guard:
    """Runs a client module's real loader; a failure turns the module into a placeholder."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        try:
            self.loader.exec_module(module)
        except Exception as exc:
            _make_placeholder(
                module, f"{module.__name__} did not import ({type(exc).__name__}: {exc})"
            )
            return
        for value in list(vars(module).values()):
            if is_placeholder(value) and value is not module:
                _make_placeholder(module, _reason_of(value))
                return

    def __getattr__(self, name: str) -> Any:  # get_source, is_package...: the real loader's
        return getattr(self.loader, name)


def _reason_of(value: Any) -> str:
    if isinstance(value, Stub):
        return value._reason
    if isinstance(value, type):
        return cast(Any, value)._dflow_reason  # a placeholder class (see placeholder)
    return vars(value)["__dflow_client_only__"]


class _NotShipped(importlib.abc.Loader):
    """The loader of a ``dflow.*`` module that is not in the pod at all."""

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        if module.__name__.startswith("dflow."):
            why = "only dflow's pod runtime is shipped: upload_dflow=False"
        else:
            why = "dflow's plugins are not shipped to pods"
        _make_placeholder(module, f"{module.__name__} is not in the pod ({why})")


class _Finder:
    """Meta path finder for client-only ``dflow.*`` modules (see the module docstring)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname in _RUNTIME or not (fullname.startswith(("dflow.",) + _PLUGIN_PREFIXES)):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            try:
                spec = finder.find_spec(fullname, path, target)
            except (ImportError, TypeError, ValueError):  # a finder of another age or kind
                continue
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = cast(Any, _Guard(spec.loader))  # a loader by duck typing
                return spec
        return importlib.util.spec_from_loader(fullname, _NotShipped(), is_package=True)


_finder = _Finder()


def install() -> None:
    """Turn the rule on in this process (``python -m dflow.runner`` does, once)."""
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def installed() -> bool:
    return _finder in sys.meta_path

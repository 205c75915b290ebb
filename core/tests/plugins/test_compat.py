"""pydflow import paths that now live in plugins: re-exported, or an ImportError naming the
distribution. The "plugin missing" case blocks the module in sys.modules (the plugins are real
distributions that may be installed in this venv); the success case imports a stand-in package
from a temporary directory."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import dflow
import pytest
from dflow import _compat

_COMPAT = ("dflow.plugins.dispatcher", "dflow.plugins.oss", "dflow.plugins.bohrium")
_PLUGINS = ("dflow_executor_dispatcher", "dflow_storage_oss", "dflow_executor_slurm")


@pytest.fixture(autouse=True)
def _restore_modules():
    """Stand-in plugins must not leak: later tests import the real ones."""
    import dflow.plugins as package

    def owned(name: str) -> bool:
        return name in _COMPAT or name.startswith(tuple(p for p in _PLUGINS))

    saved = {k: v for k, v in sys.modules.items() if owned(k)}
    attrs = {
        n: getattr(package, n) for n in ("dispatcher", "oss", "bohrium") if hasattr(package, n)
    }
    yield
    for name in [k for k in sys.modules if owned(k)]:
        del sys.modules[name]
    sys.modules.update(saved)
    for n in ("dispatcher", "oss", "bohrium"):
        if n in attrs:
            setattr(package, n, attrs[n])
        elif hasattr(package, n):
            delattr(package, n)


def _block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # import now raises ModuleNotFoundError


def _stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, source: str) -> None:
    (tmp_path / module).mkdir()
    (tmp_path / module / "__init__.py").write_text(source)
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()


@pytest.mark.parametrize(
    ("name", "dist"),
    [
        ("SlurmJob", "dflow-executor-slurm"),
        ("SlurmJobTemplate", "dflow-executor-slurm"),
        ("SlurmRemoteExecutor", "dflow-executor-slurm"),
        ("DispatcherExecutor", "dflow-executor-dispatcher"),
        ("OSSClient", "dflow-storage-oss"),
    ],
)
def test_missing_plugin_names_the_distribution(
    monkeypatch: pytest.MonkeyPatch, name: str, dist: str
) -> None:
    _block(monkeypatch, dist.replace("-", "_"))
    with pytest.raises(ImportError) as err:
        _compat.lazy_attr(name)
    assert str(err.value) == f"dflow.{name} needs the {dist} plugin: pip install {dist}"


def test_name_from_installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _stand_in(tmp_path, monkeypatch, "dflow_executor_slurm", "class SlurmJobTemplate:\n    pass\n")
    value = _compat.lazy_attr("SlurmJobTemplate")
    assert value is sys.modules["dflow_executor_slurm"].SlurmJobTemplate
    with pytest.raises(
        ImportError,
        match="the installed dflow-executor-slurm does not provide SlurmJob; upgrade it",
    ):
        _compat.lazy_attr("SlurmJob")


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'dflow' has no attribute 'Wokflow'"):
        _compat.lazy_attr("Wokflow")


def test_error_inside_an_installed_plugin_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stand_in(tmp_path, monkeypatch, "dflow_storage_oss", "import oss2_not_installed_here\n")
    with pytest.raises(ModuleNotFoundError, match="oss2_not_installed_here"):
        _compat.lazy_attr("OSSClient")


def test_dflow_package_forwards_to_compat(monkeypatch: pytest.MonkeyPatch) -> None:
    if "__getattr__" not in vars(dflow):
        pytest.skip("dflow/__init__.py does not forward unknown names to dflow._compat yet")
    _block(monkeypatch, "dflow_executor_slurm")
    with pytest.raises(ImportError, match="pip install dflow-executor-slurm"):
        from dflow import SlurmJobTemplate  # noqa: F401


@pytest.mark.parametrize(
    ("module", "plugin", "dist"),
    [
        ("dflow.plugins.dispatcher", "dflow_executor_dispatcher", "dflow-executor-dispatcher"),
        ("dflow.plugins.oss", "dflow_storage_oss", "dflow-storage-oss"),
    ],
)
def test_compat_module_without_plugin(
    monkeypatch: pytest.MonkeyPatch, module: str, plugin: str, dist: str
) -> None:
    monkeypatch.delitem(sys.modules, module, raising=False)
    _block(monkeypatch, plugin)
    with pytest.raises(ImportError) as err:
        importlib.import_module(module)
    assert str(err.value) == f"{module} needs the {dist} plugin: pip install {dist}"


def test_dispatcher_module_reexports_the_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = (
        "class DispatcherExecutor: pass\n"
        "class DispatcherArtifact: pass\n"
        "def update_dict(a, b): return {**a, **b}\n"
    )
    _stand_in(tmp_path, monkeypatch, "dflow_executor_dispatcher", source)
    monkeypatch.delitem(sys.modules, "dflow.plugins.dispatcher", raising=False)
    from dflow.plugins.dispatcher import DispatcherArtifact, DispatcherExecutor, update_dict

    plugin = sys.modules["dflow_executor_dispatcher"]
    assert (DispatcherExecutor, DispatcherArtifact) == (
        plugin.DispatcherExecutor,
        plugin.DispatcherArtifact,
    )
    assert update_dict({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
    with pytest.raises(ImportError, match="cannot import name 'nothing'"):
        from dflow.plugins.dispatcher import nothing  # noqa: F401


def test_oss_module_reexports_the_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _stand_in(tmp_path, monkeypatch, "dflow_storage_oss", "class OSSClient: pass\n")
    monkeypatch.delitem(sys.modules, "dflow.plugins.oss", raising=False)
    from dflow.plugins.oss import OSSClient

    assert OSSClient is sys.modules["dflow_storage_oss"].OSSClient


def test_bohrium_module_explains_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "dflow.plugins.bohrium", raising=False)
    _block(monkeypatch, "dflow_bohrium")
    with pytest.raises(
        ImportError,
        match="dflow.plugins.bohrium is not provided by dflow.*"
        "pip install dflow-executor-dispatcher",
    ):
        importlib.import_module("dflow.plugins.bohrium")

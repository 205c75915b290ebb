"""The plugin manager: loading entry points, filters, failures, name resolution."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from dflow.plugins import hookimpl
from dflow.plugins.manager import (
    PluginError,
    PluginManager,
    PluginNotFoundError,
    get_plugin_manager,
    reset_plugin_manager,
)
from dflow.plugins.records import EngineRecord, ExecutorRecord, StorageRecord

BROKEN = {
    "dflow_test_broken/__init__.py": "",
    "dflow_test_broken/plugin.py": ("raise ImportError('needs libfoo, which is not installed')\n"),
}


def _plugin(**hooks):
    """A plugin object implementing the given hooks (name -> list of records)."""

    class Plugin:
        pass

    for hook, records in hooks.items():

        def impl(records=records):  # defaults are not hook arguments
            return records

        impl.__name__ = hook
        setattr(Plugin, hook, staticmethod(hookimpl(impl)))
    return Plugin()


def test_builtin_plugin_provides_local_storage(pm: PluginManager) -> None:
    record = pm.storage("local")
    assert record.artifact_kind == "local"
    assert list(pm.storages()) == ["local"]
    [builtin] = pm.describe()
    assert (builtin.name, builtin.distribution, builtin.hooks) == (
        "builtin",
        "dflow-core",
        ("dflow_storage_clients",),
    )


def test_entry_point_plugin_is_found_through_its_metadata(with_echo: Path) -> None:
    pm = PluginManager()
    assert pm.executor("echo-executor").name == "echo-executor"
    assert pm.engine("echo-engine").config_type.__name__ == "EchoEngineConfig"
    rows = {p.name: p for p in pm.describe()}
    assert rows["test-echo"].distribution == "dflow-test-echo"
    assert rows["test-echo"].version == "0.3.1"
    assert rows["test-echo"].hooks == ("dflow_engines", "dflow_executors")


def test_nothing_is_loaded_before_the_first_lookup(with_echo: Path) -> None:
    pm = PluginManager()
    get_plugin_manager()
    assert "dflow_test_echo.plugin" not in sys.modules
    pm.executors()
    assert "dflow_test_echo.plugin" in sys.modules


def test_importing_dflow_plugins_loads_no_plugin(echo_site: Path) -> None:
    code = (
        "import sys, dflow.plugins, dflow.plugins.manager, dflow.backends, dflow.settings\n"
        "print(sorted(m for m in sys.modules if m.startswith('dflow_')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(echo_site), "PATH": "/usr/bin:/bin"},
    ).stdout
    assert out.strip() == "[]"


def test_broken_entry_point_is_logged_and_skipped(
    with_echo: Path, make_dist, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    make_dist("dflow-test-broken", "1.2.3", {"test-broken": "dflow_test_broken.plugin"}, BROKEN)
    monkeypatch.setenv("DFLOW_PLUGINS", "test-echo,test-broken")
    pm = PluginManager()
    with caplog.at_level(logging.WARNING, logger="dflow.plugins"):
        assert pm.executor("echo-executor").name == "echo-executor"
    [message] = [r.getMessage() for r in caplog.records]
    assert "'test-broken' from dflow-test-broken 1.2.3 failed to load and is skipped" in message
    assert "ImportError: needs libfoo, which is not installed" in message
    [failure] = pm.failures
    assert (failure.name, failure.distribution, failure.version) == (
        "test-broken",
        "dflow-test-broken",
        "1.2.3",
    )
    assert [p.name for p in pm.describe()] == ["builtin", "test-echo"]


def test_misspelled_hook_fails_loudly_naming_plugin_and_hook(
    clean_env: None, make_dist, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = "from dflow.plugins import hookimpl\n@hookimpl\ndef dflow_engine():\n    return []\n"
    files = {"dflow_test_typo/__init__.py": "", "dflow_test_typo/plugin.py": source}
    make_dist("dflow-test-typo", "0.0.1", {"test-typo": "dflow_test_typo.plugin"}, files)
    monkeypatch.setenv("DFLOW_PLUGINS", "test-typo")
    pm = PluginManager()
    with pytest.raises(PluginError) as err:
        pm.engines()
    with pytest.raises(PluginError) as again:  # and on every later lookup
        pm.storage("local")
    assert again.value is err.value
    assert str(err.value) == (
        "plugin 'test-typo' (dflow-test-typo 0.0.1) implements unknown hook 'dflow_engine' "
        "(did you mean 'dflow_engines'?). Fix the plugin, or disable it with "
        "DFLOW_DISABLE_PLUGINS=test-typo"
    )


def test_wrong_hook_arguments_are_rejected(pm: PluginManager) -> None:
    class Observer:
        @hookimpl
        def dflow_step_event(self, evt):
            pass

    with pytest.raises(PluginError, match=r"plugin 'observer' \(registered directly\) is invalid"):
        pm.register(Observer(), "observer")


def test_allow_list(with_echo: Path, make_dist, monkeypatch: pytest.MonkeyPatch) -> None:
    make_dist("dflow-test-broken", "1.2.3", {"test-broken": "dflow_test_broken.plugin"}, BROKEN)
    monkeypatch.setenv("DFLOW_PLUGINS", " test-echo , ")
    pm = PluginManager()
    assert [p.name for p in pm.describe()] == ["builtin", "test-echo"]
    assert pm.failures == []
    assert "test-broken" in [p.name for p in pm.disabled()]


@pytest.mark.parametrize("deny", ["test-echo", "*", "all", "other,test-echo"])
def test_deny_list(with_echo: Path, monkeypatch: pytest.MonkeyPatch, deny: str) -> None:
    monkeypatch.setenv("DFLOW_DISABLE_PLUGINS", deny)
    pm = PluginManager()
    assert [p.name for p in pm.describe()] == ["builtin"]
    assert "test-echo" in [p.name for p in pm.disabled()]
    with pytest.raises(PluginNotFoundError, match="no executor named 'echo-executor'"):
        pm.executor("echo-executor")
    assert pm.storage("local").name == "local"  # builtin always registered


def test_constructor_filters_override_environment(
    with_echo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DFLOW_DISABLE_PLUGINS", "*")
    assert "echo-executor" in PluginManager(deny=()).executors()


def test_duplicate_names_name_both_distributions(pm: PluginManager) -> None:
    a = _plugin(dflow_executors=[ExecutorRecord(name="dup", factory=dict)])
    b = _plugin(dflow_executors=[ExecutorRecord(name="other", factory=dict, aliases=("dup",))])
    pm.register(a, "exec-a", distribution="dist-a", version="1.0")
    pm.register(b, "exec-b", distribution="dist-b", version="2.0")
    with pytest.raises(PluginError) as err:
        pm.executor("dup")
    assert (
        "executor name 'dup' is provided twice: by dist-a (plugin 'exec-a') and by dist-b "
        "(plugin 'exec-b')" in str(err.value)
    )


def test_duplicate_through_entry_points(
    with_echo: Path, make_dist, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = (
        "from dflow.plugins import hookimpl\n"
        "from dflow.plugins.records import ExecutorRecord\n"
        "@hookimpl\n"
        "def dflow_executors():\n"
        "    return [ExecutorRecord(name='echo-executor', factory=dict)]\n"
    )
    files = {"dflow_test_dup/__init__.py": "", "dflow_test_dup/plugin.py": source}
    make_dist("dflow-test-dup", "9.9", {"test-dup": "dflow_test_dup.plugin"}, files)
    monkeypatch.setenv("DFLOW_PLUGINS", "test-echo,test-dup")
    with pytest.raises(PluginError, match="by dflow-test-dup .* and by dflow-test-echo"):
        PluginManager().executor("echo-executor")


def test_unknown_first_party_name_says_what_to_install(pm: PluginManager) -> None:
    with pytest.raises(PluginNotFoundError) as err:
        pm.engine("argo")
    assert str(err.value) == (
        "engine 'argo' is not installed (pip install dflow-engine-argo); installed: none"
    )
    assert isinstance(err.value, LookupError) and isinstance(err.value, ImportError)
    pm.register(_plugin(dflow_engines=[EngineRecord(name="local", factory=dict)]), "eng")
    with pytest.raises(PluginNotFoundError) as err:
        pm.engine("default")
    assert str(err.value) == (
        "engine 'default' is not installed (pip install dflow-engine-argo); installed: local"
    )
    for name, dist in [("oss", "dflow-storage-oss"), ("s3", "dflow-storage-minio")]:
        with pytest.raises(PluginNotFoundError, match=f"pip install {dist}"):
            pm.storage(name)
    for name in ("dispatcher", "slurm", "slurm-remote", "slurm-job"):
        with pytest.raises(PluginNotFoundError, match="dflow-executor-(dispatcher|slurm)"):
            pm.executor(name)


def test_unknown_third_party_name_suggests_a_close_one(with_echo: Path) -> None:
    with pytest.raises(PluginNotFoundError) as err:
        PluginManager().executor("echo-exector")
    assert str(err.value) == (
        "no executor named 'echo-exector' is installed (did you mean 'echo-executor'?); "
        "installed: echo-executor"
    )


def test_failed_first_party_plugin_is_explained(
    clean_env: None, make_dist, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        "dflow_engine_fake/__init__.py": "",
        "dflow_engine_fake/plugin.py": ("raise ImportError('no module named sqlite3')\n"),
    }
    make_dist("dflow-engine-local", "0.5", {"engine-local": "dflow_engine_fake.plugin"}, files)
    monkeypatch.setenv("DFLOW_PLUGINS", "engine-local")
    with pytest.raises(PluginNotFoundError) as err:
        PluginManager().engine("debug")
    assert str(err.value).startswith(
        "engine 'debug' comes from dflow-engine-local 0.5, which failed to load "
        "(ImportError: no module named sqlite3)"
    )


def test_aliases(pm: PluginManager) -> None:
    local = EngineRecord(name="local", factory=dict, aliases=("embedded",))
    pm.register(_plugin(dflow_engines=[local]), "eng")
    assert pm.engine("local") is local
    assert pm.engine("embedded") is local
    assert pm.engine("debug") is local  # pydflow's mode name, a core alias
    assert pm.engines() == {"local": local}


def test_hook_returning_a_dict_is_an_error(pm: PluginManager) -> None:
    pm.register(_plugin(dflow_engines={"name": "x"}), "bad", distribution="dist-bad")
    with pytest.raises(
        PluginError,
        match=r"hook dflow_engines of plugin 'bad' \(dist-bad\) "
        r"returned dict; it must return a list of EngineRecord",
    ):
        pm.engines()


def test_hook_returning_the_wrong_record_type_is_an_error(pm: PluginManager) -> None:
    pm.register(_plugin(dflow_engines=[StorageRecord(name="x", factory=dict)]), "bad")
    with pytest.raises(PluginError, match="returned a StorageRecord; it must return EngineRecord"):
        pm.engines()


def test_hook_that_raises_is_logged_and_skipped(
    pm: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    class Raising:
        @hookimpl
        def dflow_engines(self):
            raise RuntimeError("cannot list engines")

    pm.register(Raising(), "raising", distribution="dist-r", version="3")
    with caplog.at_level(logging.WARNING, logger="dflow.plugins"):
        assert pm.engines() == {}
    assert "'raising' (dist-r 3): hook dflow_engines raised" in caplog.text
    assert "cannot list engines" in pm.failures[0].error


def test_registering_invalidates_resolved_names(pm: PluginManager) -> None:
    assert pm.engines() == {}
    pm.register(_plugin(dflow_engines=[EngineRecord(name="late", factory=dict)]), "late")
    assert list(pm.engines()) == ["late"]
    pm.unregister("late")
    assert pm.engines() == {}


def test_process_wide_manager_is_lazy_and_resettable(clean_env: None) -> None:
    first = get_plugin_manager()
    assert get_plugin_manager() is first
    mine = PluginManager(entry_points=False)
    reset_plugin_manager(mine)
    assert get_plugin_manager() is mine
    reset_plugin_manager()
    assert get_plugin_manager() is not mine


RAISING_HOOK = {
    "dflow_test_raising/__init__.py": "",
    "dflow_test_raising/plugin.py": (
        "from dflow import hookimpl\n\n\n"
        "@hookimpl\n"
        "def dflow_engines():\n"
        "    raise KeyError('HPC_ENDPOINT')\n"
    ),
}


def test_a_plugin_whose_hook_raises_is_named_and_the_others_still_work(
    with_echo: Path, make_dist, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    make_dist(
        "dflow-test-raising", "0.9", {"test-raising": "dflow_test_raising.plugin"}, RAISING_HOOK
    )
    monkeypatch.setenv("DFLOW_PLUGINS", "test-echo,test-raising")
    pm = PluginManager()
    with caplog.at_level(logging.WARNING, logger="dflow.plugins"):
        assert pm.engine("echo-engine").name == "echo-engine"  # the same hook, another plugin
        assert pm.executor("echo-executor").name == "echo-executor"
        with pytest.raises(PluginNotFoundError) as err:
            pm.engine("hpc")
    assert str(err.value) == (
        "no engine named 'hpc' is installed; installed: echo-engine; it may come from a broken "
        "plugin: plugin 'test-raising' (dflow-test-raising 0.9) failed: "
        "dflow_engines: KeyError('HPC_ENDPOINT')"
    )
    assert (
        "dflow plugin 'test-raising' (dflow-test-raising 0.9): hook dflow_engines raised and is "
        "skipped: KeyError: 'HPC_ENDPOINT'"
    ) in caplog.text


def test_loading_every_installed_plugin_imports_no_client_or_sdk() -> None:
    # every run loads all installed plugins' entry points (and so their packages): a plugin
    # package that imported its client at the top made each run pay for every SDK installed
    code = (
        "import sys\n"
        "from dflow import Step, Workflow, upload_artifact\n"
        "from dflow.python import OP, Artifact, PythonOPTemplate\n"
        "from dflow.plugins.manager import get_plugin_manager\n"
        "pm = get_plugin_manager()\n"
        "names = sorted(info.name for info in pm.describe())\n"
        "heavy = ('boto3', 'botocore', 'oss2', 'google', 'dpdispatcher', 'kubernetes',\n"
        "         'paramiko', 'jsonpickle', 'typeguard', 'urllib3', 'requests')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy or (\n"
        "    m.startswith('dflow_') and m.split('.')[-1] in ('client', 'executor', 'remote')))\n"
        "import json; print(json.dumps([names, loaded]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names, loaded = json.loads(out.stdout)
    for plugin in ("engine-argo", "engine-local", "storage-minio", "storage-oss", "storage-gcs"):
        assert plugin in names  # the test means something only with the plugins installed
    assert loaded == [], f"loading the plugins imported: {loaded}"

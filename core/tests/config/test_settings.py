"""The configuration file: where it is found, how it is checked, what it yields."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import pytest
from dflow.plugins.manager import PluginManager, PluginNotFoundError
from dflow.settings import Settings, SettingsError, find_settings_file, load_settings


def fields(instance: object) -> tuple[str, dict]:
    """The config instance's type name and values (the types live in conftest.py)."""
    return type(instance).__name__, attrs.asdict(instance)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path.resolve()


# -- search order ---------------------------------------------------------------------------


def test_no_file_gives_empty_settings(workdir: Path) -> None:
    assert find_settings_file() is None
    assert load_settings() == Settings()
    assert load_settings().source == "(no configuration file)"


def test_dflow_toml_in_a_parent_directory(workdir: Path) -> None:
    path = write(workdir.parent / "dflow.toml", 'engine = "argo"\n')
    assert find_settings_file() == path
    assert load_settings().engine == "argo"


def test_nearest_directory_wins(workdir: Path) -> None:
    write(workdir.parent / "dflow.toml", 'engine = "argo"\n')
    near = write(workdir / "dflow.toml", 'engine = "local"\n')
    assert find_settings_file() == near


def test_pyproject_tool_dflow(workdir: Path) -> None:
    path = write(
        workdir.parent / "pyproject.toml", '[project]\nname = "x"\n[tool.dflow]\nengine = "argo"\n'
    )
    assert find_settings_file() == path
    settings = load_settings()
    assert (settings.engine, settings.prefix) == ("argo", "tool.dflow.")


def test_pyproject_without_tool_dflow_is_skipped(workdir: Path) -> None:
    write(workdir / "pyproject.toml", '[project]\nname = "x"\n')
    path = write(workdir.parent / "dflow.toml", 'engine = "argo"\n')
    assert find_settings_file() == path


def test_dflow_toml_beats_pyproject_in_the_same_directory(workdir: Path) -> None:
    write(workdir / "pyproject.toml", '[tool.dflow]\nengine = "argo"\n')
    path = write(workdir / "dflow.toml", 'engine = "local"\n')
    assert find_settings_file() == path


def test_dflow_config_variable_wins(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(workdir / "dflow.toml", 'engine = "local"\n')
    named = write(workdir.parent / "elsewhere.toml", 'engine = "argo"\n')
    monkeypatch.setenv("DFLOW_CONFIG", str(named))
    assert find_settings_file() == named
    assert load_settings().engine == "argo"


def test_dflow_config_naming_a_missing_file_is_an_error(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DFLOW_CONFIG", "/no/such/dflow.toml")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value) == (
        "DFLOW_CONFIG=/no/such/dflow.toml: no such file; point it at a dflow.toml or unset it"
    )


def test_start_dir_argument(workdir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    path = write(other / "dflow.toml", 'storage = "minio"\n')
    assert load_settings(other).path == path
    assert load_settings().path is None


def test_cached_until_the_file_changes(workdir: Path) -> None:
    path = write(workdir / "dflow.toml", 'engine = "local"\n')
    first = load_settings()
    assert load_settings() is first
    path.write_text('engine = "argo"\n')
    # a later modification time, as an editor saving a second later would leave
    os.utime(path, ns=(1, path.stat().st_mtime_ns + 10**9))
    assert load_settings().engine == "argo"


# -- checking -------------------------------------------------------------------------------


def test_unknown_top_level_key(workdir: Path) -> None:
    path = write(workdir / "dflow.toml", 'engnie = "local"\nexecuter = "x"\n')
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).splitlines() == [
        f"{path}: engnie: extra key (did you mean 'engine'?)",
        f"{path}: executer: extra key (did you mean 'executor'?)",
    ]


def test_wrong_top_level_type(workdir: Path) -> None:
    path = write(workdir / "dflow.toml", "engine = 3\n")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value) == f"{path}: engine: expected str, got int 3"


def test_unknown_config_keys(workdir: Path) -> None:
    path = write(workdir / "dflow.toml", "[config]\nmdoe = 'debug'\n[s3_config]\nendpiont = 'x'\n")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).splitlines() == [
        f"{path}: config.mdoe: unknown config key (did you mean 'mode'?)",
        f"{path}: s3_config.endpiont: unknown s3_config key (did you mean 'endpoint'?)",
    ]


def test_invalid_toml_names_the_file(workdir: Path) -> None:
    path = write(workdir / "dflow.toml", "engine = \n")
    with pytest.raises(SettingsError, match=f"^{path}: invalid TOML: "):
        load_settings()


def test_plugin_section_extra_key_and_wrong_type(toy_pm: PluginManager, workdir: Path) -> None:
    path = write(workdir / "dflow.toml", "[engines.local]\nwokdir = 'x'\npool_workers = 'four'\n")
    with pytest.raises(SettingsError) as err:
        load_settings().plugin_config("engine", "local")
    assert str(err.value).splitlines() == [
        f"{path}: engines.local.pool_workers: expected int, got str 'four'",
        f"{path}: engines.local.wokdir: extra key (did you mean 'workdir'?)",
    ]


def test_plugin_section_in_pyproject_names_the_full_path(
    toy_pm: PluginManager, workdir: Path
) -> None:
    path = write(workdir / "pyproject.toml", "[tool.dflow.storages.minio]\nsecure = 'yes'\n")
    with pytest.raises(SettingsError) as err:
        load_settings().plugin_config("storage", "minio")
    assert str(err.value).splitlines() == [
        f"{path}: tool.dflow.storages.minio.endpoint: required key missing",
        f"{path}: tool.dflow.storages.minio.secure: expected bool, got str 'yes'",
    ]


def test_pyproject_unknown_top_level_key(workdir: Path) -> None:
    path = write(workdir / "pyproject.toml", "[tool.dflow]\nstorge = 'minio'\n")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value) == f"{path}: tool.dflow.storge: extra key (did you mean 'storage'?)"


# -- plugin configuration -------------------------------------------------------------------


def test_plugin_config_is_the_plugins_type(toy_pm: PluginManager, workdir: Path) -> None:
    write(
        workdir / "dflow.toml",
        "[engines.local]\nworkdir = 'out'\npool_workers = 4\n"
        "[storages.minio]\nendpoint = '127.0.0.1:9000'\n",
    )
    settings = load_settings()
    local = ("LocalConfig", {"workdir": "out", "pool_workers": 4})
    assert fields(settings.plugin_config("engine", "local")) == local
    assert fields(settings.plugin_config("engine", "debug")) == local
    assert fields(settings.plugin_config("storage", "minio")) == (
        "MinioConfig",
        {"endpoint": "127.0.0.1:9000", "secure": False},
    )


def test_plugin_config_defaults_without_section(toy_pm: PluginManager, workdir: Path) -> None:
    assert fields(load_settings().plugin_config("engine", "local")) == (
        "LocalConfig",
        {"workdir": "runs", "pool_workers": 1},
    )
    assert load_settings().plugin_config("engine", "argo") is None  # no config type


def test_required_key_without_section(toy_pm: PluginManager, workdir: Path) -> None:
    with pytest.raises(SettingsError, match=r"storages.minio.endpoint: required key missing"):
        load_settings().plugin_config("storage", "minio")


def test_section_under_an_alias(toy_pm: PluginManager, workdir: Path) -> None:
    write(workdir / "dflow.toml", "[engines.debug]\nworkdir = 'dbg'\n")
    assert load_settings().plugin_config("engine", "local").workdir == "dbg"


def test_two_sections_for_one_plugin(toy_pm: PluginManager, workdir: Path) -> None:
    path = write(workdir / "dflow.toml", "[engines.debug]\n[engines.local]\n")
    with pytest.raises(SettingsError) as err:
        load_settings().plugin_config("engine", "local")
    assert str(err.value) == (
        f"{path}: [engines.local] and [engines.debug] both configure engine 'local'; keep one"
    )


def test_section_for_a_plugin_without_config(toy_pm: PluginManager, workdir: Path) -> None:
    path = write(workdir / "dflow.toml", "[engines.argo]\nhost = 'x'\n")
    with pytest.raises(SettingsError) as err:
        load_settings().plugin_config("engine", "argo")
    assert str(err.value) == (
        f"{path}: engines.argo: engine 'argo' takes no configuration; remove the section"
    )


def test_section_for_a_missing_plugin(toy_pm: PluginManager, workdir: Path) -> None:
    write(workdir / "dflow.toml", "[storages.gcs]\nbucket = 'b'\n")
    with pytest.raises(PluginNotFoundError, match=r"pip install dflow-storage-gcs"):
        load_settings().plugin_config("storage", "gcs")

"""dflow.backends: which engine / storage / executor is used, from arguments, config and file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dflow import backends
from dflow.config import config, s3_config, set_config
from dflow.plugins.manager import PluginManager, PluginNotFoundError


def write(workdir: Path, text: str) -> Path:
    path = workdir / "dflow.toml"
    path.write_text(text)
    return path


def test_default_engine_is_local(toy_pm: PluginManager) -> None:
    engine = backends.get_engine()
    assert engine.name == "local"
    assert engine.config.workdir == "runs"
    assert backends.get_engine() is engine  # built once per configuration


def test_engine_from_file_with_its_section(toy_pm: PluginManager, workdir: Path) -> None:
    write(workdir, 'engine = "debug"\n[engines.local]\nworkdir = "w"\n')
    engine = backends.get_engine()
    assert (engine.name, engine.config.workdir) == ("local", "w")
    write(workdir, 'engine = "debug"\n[engines.local]\nworkdir = "w2"\n[config]\nhost = "h"\n')
    # a new configuration builds a new engine (the file's modification time moves on)
    path = workdir / "dflow.toml"
    os.utime(path, ns=(1, path.stat().st_mtime_ns + 10**9))
    assert backends.get_engine().config.workdir == "w2"


def test_mode_and_argument_take_precedence_over_the_file(
    toy_pm: PluginManager, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(workdir, 'engine = "local"\n')
    set_config(mode="default")  # pydflow's name for Argo
    assert backends.get_engine().name == "argo"
    assert backends.engine_name() == "argo"
    assert backends.get_engine("debug").name == "local"
    config["mode"] = None
    assert backends.get_engine().name == "local"


def test_unknown_engine(toy_pm: PluginManager, workdir: Path) -> None:
    write(workdir, 'engine = "slurm"\n')
    with pytest.raises(
        PluginNotFoundError, match="no engine named 'slurm' is installed; installed: argo, local"
    ):
        backends.get_engine()


def test_file_config_section_applies_below_environment(
    toy_pm: PluginManager, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DFLOW_NAMESPACE", "env-ns")
    config["namespace"] = "env-ns"
    write(
        workdir,
        '[config]\nnamespace = "file-ns"\ndebug_failfast = true\n[s3_config]\nprefix = "p/"\n',
    )
    backends.get_engine()
    assert (config["namespace"], config["debug_failfast"], s3_config["prefix"]) == (
        "env-ns",
        True,
        "p/",
    )


def test_storage_defaults(toy_pm: PluginManager, workdir: Path) -> None:
    assert backends.storage_name() == "local"
    assert backends.storage_kind() == "local"
    client = backends.get_storage_client()
    assert type(client).__name__ == "LocalStorageClient"
    set_config(mode="argo")  # pydflow stored Argo artifacts in MinIO
    assert backends.storage_name() == "minio"
    assert backends.storage_kind() == "s3"


def test_storage_from_file(toy_pm: PluginManager, workdir: Path) -> None:
    write(workdir, 'storage = "minio"\n[storages.minio]\nendpoint = "127.0.0.1:9000"\n')
    client = backends.get_storage_client()
    assert (client.name, client.config.endpoint) == ("minio", "127.0.0.1:9000")
    assert backends.get_storage_client() is client


def test_storage_client_instance_wins(toy_pm: PluginManager, workdir: Path) -> None:
    write(workdir, 'storage = "minio"\n')
    mine = object()
    s3_config["storage_client"] = mine
    s3_config["repo_type"] = "oss"
    assert backends.get_storage_client() is mine
    assert backends.storage_kind() == "oss"


def test_storage_client_from_environment(
    toy_pm: PluginManager, workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DFLOW_S3_STORAGE_CLIENT", "minio")  # a plugin name
    write(workdir, '[storages.minio]\nendpoint = "e"\n')
    assert backends.get_storage_client().name == "minio"
    (tmp_path / "my_store_mod.py").write_text("class Store:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DFLOW_S3_STORAGE_CLIENT", "my_store_mod.Store")  # pydflow's class path
    client = backends.get_storage_client()
    assert type(client).__name__ == "Store" and s3_config["storage_client"] is client


def test_missing_storage_plugin(toy_pm: PluginManager, workdir: Path) -> None:
    write(workdir, 'storage = "oss"\n')
    with pytest.raises(PluginNotFoundError) as err:
        backends.get_storage_client()
    assert str(err.value) == (
        "storage 'oss' is not installed (pip install dflow-storage-oss); installed: local, minio"
    )


def test_no_default_executor(toy_pm: PluginManager) -> None:
    assert backends.get_default_executor() is None


def test_missing_executor_plugin(toy_pm: PluginManager, workdir: Path) -> None:
    write(workdir, 'executor = "slurm"\n')
    with pytest.raises(
        PluginNotFoundError,
        match=r"executor 'slurm' is not installed \(pip "
        r"install dflow-executor-slurm\)",
    ):
        backends.get_default_executor()


def test_renderer(toy_pm: PluginManager) -> None:
    assert backends.get_renderer("argo").name == "argo-renderer"
    with pytest.raises(PluginNotFoundError, match="no renderer named 'cwl'"):
        backends.get_renderer("cwl")
    with pytest.raises(TypeError) as err:  # Workflow.to_dict() would fail later, less clearly
        backends.get_renderer("half")
    assert str(err.value) == (
        "renderer 'half' of dflow-toy (plugin 'toy') built a Built, which lacks "
        "render/lint/from_dict of dflow.rendering.Renderer; fix the plugin's factory"
    )

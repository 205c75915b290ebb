"""dflow.config / dflow.s3_config: every key, its environment variable and its default."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from dflow.config import (
    ConfigError,
    apply_file_values,
    boolize,
    config,
    default_config,
    default_s3_config,
    lineage_client,
    s3_config,
    set_config,
    set_s3_config,
)

# key: (env var, text given to it, value expected, built-in default) - reference §1.3
CONFIG = {
    "host": ("DFLOW_HOST", "https://argo:2746", "https://argo:2746", "https://127.0.0.1:2746"),
    "namespace": ("DFLOW_NAMESPACE", "ns", "ns", "argo"),
    "token": ("DFLOW_TOKEN", "tok", "tok", None),
    "k8s_config_file": ("DFLOW_K8S_CONFIG_FILE", "/k.yaml", "/k.yaml", None),
    "k8s_api_server": ("DFLOW_K8S_API_SERVER", "https://k8s", "https://k8s", None),
    "private_key_host_path": ("DFLOW_PRIVATE_KEY_HOST_PATH", "/keys", "/keys", None),
    "save_path_as_parameter": ("DFLOW_SAVE_PATH_AS_PARAMETER", "1", True, False),
    "catalog_dir_name": ("DFLOW_CATALOG_DIR_NAME", ".cat", ".cat", ".dflow"),
    "archive_mode": ("DFLOW_ARCHIVE_MODE", "none", None, "tar"),
    "util_image": ("DFLOW_UTIL_IMAGE", "python:3.11", "python:3.11", "python:3.8"),
    "util_image_pull_policy": ("DFLOW_UTIL_IMAGE_PULL_POLICY", "Always", "Always", None),
    "extender_image": ("DFLOW_EXTENDER_IMAGE", "ext", "ext", "dptechnology/dflow-extender"),
    "extender_image_pull_policy": ("DFLOW_EXTENDER_IMAGE_PULL_POLICY", "Never", "Never", None),
    "dispatcher_image": ("DFLOW_DISPATCHER_IMAGE", "dp", "dp", "dptechnology/dpdispatcher"),
    "dispatcher_image_pull_policy": (
        "DFLOW_DISPATCHER_IMAGE_PULL_POLICY",
        "IfNotPresent",
        "IfNotPresent",
        None,
    ),
    "save_keys_in_global_outputs": ("DFLOW_SAVE_KEYS_IN_GLOBAL_OUTPUTS", "true", True, False),
    "mode": ("DFLOW_MODE", "debug", "debug", None),
    "register_tasks": ("DFLOW_REGISTER_TASKS", "yes", True, False),
    "http_headers": ("DFLOW_HTTP_HEADERS", "a:1;b: two ;", {"a": "1", "b": "two"}, {}),
    "workflow_annotations": ("DFLOW_WORKFLOW_ANNOTATIONS", '{"x": "y"}', {"x": "y"}, {}),
    "overwrite_reused_artifact": ("DFLOW_OVERWRITE_REUSED_ARTIFACT", "false", False, True),
    "raise_on_failure": ("DFLOW_RAISE_ON_FAILURE", "1", True, False),
    "quiet": ("DFLOW_QUIET", "true", True, False),
    "progress_interval": ("DFLOW_PROGRESS_INTERVAL", "3", 3, 10),
    "detach": ("DFLOW_DETACH", "1", True, False),
    "debug_copy_method": ("DFLOW_DEBUG_COPY_METHOD", "copy", "copy", "symlink"),
    "debug_pool_workers": ("DFLOW_DEBUG_POOL_WORKERS", "-1", -1, None),
    "debug_batch_size": ("DFLOW_DEBUG_BATCH_SIZE", "8", 8, None),
    "debug_batch_interval": ("DFLOW_DEBUG_BATCH_INTERVAL", "5", 5, 30),
    "detect_empty_dir": ("DFLOW_DETECT_EMPTY_DIR", "0", False, True),
    "debug_s3": ("DFLOW_DEBUG_S3", "True", True, False),
    "debug_workdir": ("DFLOW_DEBUG_WORKDIR", "/runs", "/runs", "."),
    "debug_artifact_dir": ("DFLOW_DEBUG_ARTIFACT_DIR", "art", "art", "."),
    "debug_failfast": ("DFLOW_DEBUG_FAILFAST", "1", True, False),
    "debug_save_copy_method": ("DFLOW_DEBUG_SAVE_COPY_METHOD", "link", "link", "symlink"),
    "raise_for_group": ("DFLOW_RAISE_FOR_GROUP", "1", True, False),
    "dispatcher_debug": ("DISPATCHER_DEBUG", "1", True, False),
    "dereference_symlink": ("DFLOW_DEREFERENCE_SYMLINK", "1", True, False),
}
CONFIG_NO_ENV = {"lineage": None, "artifact_register": {}}

S3_CONFIG = {
    "endpoint": ("DFLOW_S3_ENDPOINT", "s3:9000", "s3:9000", "127.0.0.1:9000"),
    "console": ("DFLOW_S3_CONSOLE", "http://c", "http://c", "http://127.0.0.1:9001"),
    "access_key": ("DFLOW_S3_ACCESS_KEY", "ak", "ak", "admin"),
    "secret_key": ("DFLOW_S3_SECRET_KEY", "sk", "sk", "password"),
    "secure": ("DFLOW_S3_SECURE", "1", True, False),
    "bucket_name": ("DFLOW_S3_BUCKET_NAME", "b", "b", "my-bucket"),
    "repo_key": ("DFLOW_S3_REPO_KEY", "rk", "rk", None),
    "repo": ("DFLOW_S3_REPO", '{"s3": {"bucket": "b"}}', {"s3": {"bucket": "b"}}, None),
    "repo_type": ("DFLOW_S3_REPO_TYPE", "oss", "oss", "s3"),
    "repo_prefix": ("DFLOW_S3_REPO_PREFIX", "rp/", "rp/", ""),
    "prefix": ("DFLOW_S3_PREFIX", "p/", "p/", ""),
    "extra_prefixes": ("DFLOW_S3_EXTRA_PREFIXES", "a/;b/", ["a/", "b/"], []),
}
S3_CONFIG_NO_ENV = {"storage_client": None}


def _import_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import dflow.config in a fresh interpreter with exactly ``env`` as DFLOW_* variables."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DFLOW_", "DISPATCHER_", "LOG_LEVEL"))
    }
    environ.update(env)
    code = (
        "import json, importlib\nc = importlib.import_module('dflow.config')\n"
        "print(json.dumps({'config': c.config, 's3_config': c.s3_config}))"
    )
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True)


def test_defaults_without_environment() -> None:
    result = _import_config({})
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["config"] == {**{k: v[3] for k, v in CONFIG.items()}, **CONFIG_NO_ENV}
    assert values["s3_config"] == {**{k: v[3] for k, v in S3_CONFIG.items()}, **S3_CONFIG_NO_ENV}
    assert default_config() == values["config"]
    assert default_s3_config() == values["s3_config"]


def test_every_environment_variable() -> None:
    env = {var: text for var, text, _, _ in [*CONFIG.values(), *S3_CONFIG.values()]}
    result = _import_config(env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["config"] == {**{k: v[2] for k, v in CONFIG.items()}, **CONFIG_NO_ENV}
    assert values["s3_config"] == {**{k: v[2] for k, v in S3_CONFIG.items()}, **S3_CONFIG_NO_ENV}


def test_config_keys_are_exactly_the_documented_ones() -> None:
    assert set(config) == set(CONFIG) | set(CONFIG_NO_ENV)
    assert set(s3_config) == set(S3_CONFIG) | set(S3_CONFIG_NO_ENV)


@pytest.mark.parametrize(
    ("var", "text", "message"),
    [
        (
            "DFLOW_DEBUG_POOL_WORKERS",
            "many",
            "environment variable DFLOW_DEBUG_POOL_WORKERS='many': expected an integer",
        ),
        (
            "DFLOW_WORKFLOW_ANNOTATIONS",
            "{x",
            "environment variable DFLOW_WORKFLOW_ANNOTATIONS: invalid JSON",
        ),
        (
            "DFLOW_HTTP_HEADERS",
            "novalue",
            "environment variable DFLOW_HTTP_HEADERS: 'novalue' is "
            "not 'name:value' (format: 'k1:v1;k2:v2')",
        ),
    ],
)
def test_bad_environment_value_is_named(var: str, text: str, message: str) -> None:
    result = _import_config({var: text})
    assert result.returncode == 1
    assert f"dflow.config.ConfigError: {message}" in result.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", False),
        ("false", False),
        ("False", False),
        ("0", False),
        (" 0 ", False),
        ("1", True),
        ("true", True),
        ("yes", True),
        ("no", True),
        ("2", True),
        (True, True),
        (False, False),
        (0, False),
        (None, False),
    ],
)
def test_boolize(value: object, expected: bool) -> None:
    assert boolize(value) is expected


def test_import_has_no_side_effects() -> None:
    environ = {
        **os.environ,
        "DFLOW_TEMPDIR": "/nonexistent-tmp",
        "LOG_LEVEL": "DEBUG",
        "DFLOW_LINEAGE": "no.such.Lineage",
        "DFLOW_S3_STORAGE_CLIENT": "no.such.Client",
    }
    code = (
        "import logging, tempfile, dflow, importlib\nc = importlib.import_module('dflow.config')\n"
        "print(tempfile.tempdir, logging.getLogger().handlers, c.config['lineage'], "
        "c.s3_config['storage_client'], c.tempdir())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["None", "[]", "None", "None", "/nonexistent-tmp"]


@pytest.fixture
def restore_config():
    saved, saved_s3 = dict(config), dict(s3_config)
    yield
    config.clear()
    config.update(saved)
    s3_config.clear()
    s3_config.update(saved_s3)


def test_set_config_updates_the_shared_dict(restore_config: None) -> None:
    set_config(mode="debug", debug_workdir="runs")
    set_s3_config(prefix="p/")
    assert config["mode"] == "debug"
    assert config["debug_workdir"] == "runs" and s3_config["prefix"] == "p/"


def test_set_config_rejects_misspelled_keys(restore_config: None) -> None:
    with pytest.raises(ConfigError) as err:
        set_config(mdoe="debug", debug_workdir="runs")
    assert str(err.value).startswith(
        "unknown config key 'mdoe' (did you mean 'mode'?). Valid keys:"
    )
    assert config["debug_workdir"] != "runs"  # nothing applied
    with pytest.raises(
        ConfigError, match="unknown s3_config key 'endpiont' .did you mean 'endpoint'"
    ):
        set_s3_config(endpiont="x")
    with pytest.raises(ConfigError, match=r"unknown config key 'zzz'\. Valid keys: archive_mode"):
        set_config(zzz=1)


def test_file_values_sit_below_environment_and_code(
    restore_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DFLOW_NAMESPACE", "from-env")
    config["namespace"] = "from-env"
    config["util_image"] = "from-code"
    applied = apply_file_values(
        config, {"namespace": "file", "util_image": "file", "debug_failfast": True}, "config"
    )
    assert applied == ["debug_failfast"]
    assert (config["namespace"], config["util_image"], config["debug_failfast"]) == (
        "from-env",
        "from-code",
        True,
    )
    # an edited file applies again; a value changed in code afterwards is kept
    assert apply_file_values(config, {"debug_failfast": False}, "config") == ["debug_failfast"]
    config["debug_failfast"] = True
    assert apply_file_values(config, {"debug_failfast": False}, "config") == []


def test_lineage_client_from_environment(
    restore_config: None, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    (tmp_path / "my_lineage_mod.py").write_text("class Lineage:\n    kind = 'mine'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DFLOW_LINEAGE", "my_lineage_mod.Lineage")
    client = lineage_client()
    assert client.kind == "mine" and config["lineage"] is client
    config["lineage"] = None
    monkeypatch.setenv("DFLOW_LINEAGE", "my_lineage_mod.Nope")
    with pytest.raises(ConfigError, match="DFLOW_LINEAGE='my_lineage_mod.Nope': cannot import"):
        lineage_client()


def test_module_exports() -> None:
    module = sys.modules["dflow.config"]  # `dflow.config` itself is the dict, as in pydflow
    assert set(module.__all__) >= {"config", "s3_config", "set_config", "set_s3_config", "boolize"}


def _dflow_config_is_eagerly_bound() -> bool:
    import dflow

    return ".config import" in open(dflow.__file__).read()


@pytest.mark.xfail(
    not _dflow_config_is_eagerly_bound(),
    reason="dflow/__init__.py must bind config/s3_config eagerly (from .config import ...)",
    strict=True,
)
def test_dflow_config_is_the_dict_even_after_importing_the_submodule() -> None:
    # pydflow scripts do `from dflow import config; config["mode"] = "debug"`; importing the
    # submodule dflow.config first (as dflow.backends does) must not shadow the dict.
    code = (
        "import dflow.backends\n"
        "from dflow import config, s3_config\n"
        "print(type(config).__name__, type(s3_config).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["dict", "dict"], out.stderr

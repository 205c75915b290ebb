"""Global configuration: pydflow's ``config`` and ``s3_config`` dicts and their environment variables.

Both are plain dicts built from ``DFLOW_*`` environment variables when this module is imported.
``set_config``/``set_s3_config`` update them and reject unknown keys. Nothing else happens at
import: ``DFLOW_LINEAGE`` and ``DFLOW_S3_STORAGE_CLIENT`` are resolved when first needed
(:func:`lineage_client`, :func:`dflow.backends.get_storage_client`), ``DFLOW_TEMPDIR`` through
:func:`tempdir`, and ``LOG_LEVEL`` by the ``dflow`` command.

Precedence, lowest first: built-in default, ``[config]``/``[s3_config]`` of ``dflow.toml``,
environment variable, ``set_config``/assignment in code.
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "boolize",
    "config",
    "s3_config",
    "set_config",
    "set_s3_config",
    "lineage_client",
    "tempdir",
    "ConfigError",
]


class ConfigError(ValueError):
    """A configuration key or value is wrong (the message names it and the fix)."""


def boolize(value: object) -> bool:
    """pydflow's rule for boolean env vars: ``""``, ``"false"``, ``"0"`` are False, else True."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0")
    return bool(value)


def _int(env: str) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"environment variable {env}={raw!r}: expected an integer") from None

    return parse


def _json(env: str) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"environment variable {env}: invalid JSON ({exc})") from None

    return parse


def _headers(raw: str) -> dict[str, str]:
    headers = {}
    for item in raw.split(";"):
        if item.strip():
            key, sep, value = item.partition(":")
            if not sep:
                raise ConfigError(
                    f"environment variable DFLOW_HTTP_HEADERS: {item!r} is not 'name:value' "
                    "(format: 'k1:v1;k2:v2')"
                )
            headers[key.strip()] = value.strip()
    return headers


def _archive_mode(raw: str) -> str | None:
    return None if raw == "none" else raw


def _prefixes(raw: str) -> list[str]:
    return [p for p in raw.split(";") if p]


def _str(raw: str) -> str:
    return raw


# key -> (env var or None, default, parser of the env var's text)
_CONFIG_SPEC: dict[str, tuple[str | None, Any, Callable[[str], Any]]] = {
    "host": ("DFLOW_HOST", "https://127.0.0.1:2746", _str),
    "namespace": ("DFLOW_NAMESPACE", "argo", _str),
    "token": ("DFLOW_TOKEN", None, _str),
    "k8s_config_file": ("DFLOW_K8S_CONFIG_FILE", None, _str),
    "k8s_api_server": ("DFLOW_K8S_API_SERVER", None, _str),
    "private_key_host_path": ("DFLOW_PRIVATE_KEY_HOST_PATH", None, _str),
    "save_path_as_parameter": ("DFLOW_SAVE_PATH_AS_PARAMETER", False, boolize),
    "catalog_dir_name": ("DFLOW_CATALOG_DIR_NAME", ".dflow", _str),
    "archive_mode": ("DFLOW_ARCHIVE_MODE", "tar", _archive_mode),
    "util_image": ("DFLOW_UTIL_IMAGE", "python:3.8", _str),
    "util_image_pull_policy": ("DFLOW_UTIL_IMAGE_PULL_POLICY", None, _str),
    "extender_image": ("DFLOW_EXTENDER_IMAGE", "dptechnology/dflow-extender", _str),
    "extender_image_pull_policy": ("DFLOW_EXTENDER_IMAGE_PULL_POLICY", None, _str),
    "dispatcher_image": ("DFLOW_DISPATCHER_IMAGE", "dptechnology/dpdispatcher", _str),
    "dispatcher_image_pull_policy": ("DFLOW_DISPATCHER_IMAGE_PULL_POLICY", None, _str),
    "save_keys_in_global_outputs": ("DFLOW_SAVE_KEYS_IN_GLOBAL_OUTPUTS", False, boolize),
    # None: the engine named in dflow.toml, else "local" (pydflow defaulted to Argo)
    "mode": ("DFLOW_MODE", None, _str),
    # DFLOW_LINEAGE (a dotted class path) is instantiated by lineage_client(), not at import
    "lineage": (None, None, _str),
    "register_tasks": ("DFLOW_REGISTER_TASKS", False, boolize),
    "http_headers": ("DFLOW_HTTP_HEADERS", {}, _headers),
    "workflow_annotations": ("DFLOW_WORKFLOW_ANNOTATIONS", {}, _json("DFLOW_WORKFLOW_ANNOTATIONS")),
    "overwrite_reused_artifact": ("DFLOW_OVERWRITE_REUSED_ARTIFACT", True, boolize),
    "detach": ("DFLOW_DETACH", False, boolize),
    "debug_copy_method": ("DFLOW_DEBUG_COPY_METHOD", "symlink", _str),
    "debug_pool_workers": ("DFLOW_DEBUG_POOL_WORKERS", None, _int("DFLOW_DEBUG_POOL_WORKERS")),
    "debug_batch_size": ("DFLOW_DEBUG_BATCH_SIZE", None, _int("DFLOW_DEBUG_BATCH_SIZE")),
    "debug_batch_interval": ("DFLOW_DEBUG_BATCH_INTERVAL", 30, _int("DFLOW_DEBUG_BATCH_INTERVAL")),
    "detect_empty_dir": ("DFLOW_DETECT_EMPTY_DIR", True, boolize),
    "artifact_register": (None, {}, _str),
    "debug_s3": ("DFLOW_DEBUG_S3", False, boolize),
    "debug_workdir": ("DFLOW_DEBUG_WORKDIR", ".", _str),
    "debug_artifact_dir": ("DFLOW_DEBUG_ARTIFACT_DIR", ".", _str),
    "debug_failfast": ("DFLOW_DEBUG_FAILFAST", False, boolize),
    "debug_save_copy_method": ("DFLOW_DEBUG_SAVE_COPY_METHOD", "symlink", _str),
    "raise_for_group": ("DFLOW_RAISE_FOR_GROUP", False, boolize),
    "dispatcher_debug": ("DISPATCHER_DEBUG", False, boolize),
    "dereference_symlink": ("DFLOW_DEREFERENCE_SYMLINK", False, boolize),
}

_S3_CONFIG_SPEC: dict[str, tuple[str | None, Any, Callable[[str], Any]]] = {
    "endpoint": ("DFLOW_S3_ENDPOINT", "127.0.0.1:9000", _str),
    "console": ("DFLOW_S3_CONSOLE", "http://127.0.0.1:9001", _str),
    "access_key": ("DFLOW_S3_ACCESS_KEY", "admin", _str),
    "secret_key": ("DFLOW_S3_SECRET_KEY", "password", _str),
    "secure": ("DFLOW_S3_SECURE", False, boolize),
    "bucket_name": ("DFLOW_S3_BUCKET_NAME", "my-bucket", _str),
    "repo_key": ("DFLOW_S3_REPO_KEY", None, _str),
    "repo": ("DFLOW_S3_REPO", None, _json("DFLOW_S3_REPO")),
    "repo_type": ("DFLOW_S3_REPO_TYPE", "s3", _str),
    "repo_prefix": ("DFLOW_S3_REPO_PREFIX", "", _str),
    "prefix": ("DFLOW_S3_PREFIX", "", _str),
    # DFLOW_S3_STORAGE_CLIENT is resolved by dflow.backends.get_storage_client()
    "storage_client": (None, None, _str),
    "extra_prefixes": ("DFLOW_S3_EXTRA_PREFIXES", [], _prefixes),
}


def _defaults(spec: Mapping[str, tuple[str | None, Any, Callable[[str], Any]]]) -> dict[str, Any]:
    # copies: a default dict/list must never be shared with (and mutated through) the config
    return {key: json.loads(json.dumps(default)) for key, (_, default, _) in spec.items()}


def _from_env(spec: Mapping[str, tuple[str | None, Any, Callable[[str], Any]]]) -> dict[str, Any]:
    values = _defaults(spec)
    for key, (env, _, parse) in spec.items():
        if env is not None and env in os.environ:
            values[key] = parse(os.environ[env])
    return values


config: dict[str, Any] = _from_env(_CONFIG_SPEC)
s3_config: dict[str, Any] = _from_env(_S3_CONFIG_SPEC)

CONFIG_ENV: dict[str, str] = {k: env for k, (env, _, _) in _CONFIG_SPEC.items() if env}
S3_CONFIG_ENV: dict[str, str] = {k: env for k, (env, _, _) in _S3_CONFIG_SPEC.items() if env}


def default_config() -> dict[str, Any]:
    """A fresh copy of the built-in defaults of ``config`` (environment ignored)."""
    return _defaults(_CONFIG_SPEC)


def default_s3_config() -> dict[str, Any]:
    """A fresh copy of the built-in defaults of ``s3_config`` (environment ignored)."""
    return _defaults(_S3_CONFIG_SPEC)


def check_keys(keys: object, known: Mapping[str, Any], what: str) -> None:
    """Raise :class:`ConfigError` for keys not in ``known``, suggesting the closest one."""
    problems = []
    for key in keys:  # type: ignore[attr-defined]
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"unknown {what} key '{key}'{hint}")
    if problems:
        raise ConfigError("; ".join(problems) + f". Valid keys: {', '.join(sorted(known))}")


def set_config(**kwargs: Any) -> None:
    """Update :data:`config` (``set_config(mode="debug", debug_workdir="runs")``)."""
    check_keys(kwargs, config, "config")
    config.update(kwargs)


def set_s3_config(**kwargs: Any) -> None:
    """Update :data:`s3_config` (``set_s3_config(endpoint="127.0.0.1:9000")``)."""
    check_keys(kwargs, s3_config, "s3_config")
    s3_config.update(kwargs)


def apply_file_values(target: dict[str, Any], values: Mapping[str, Any], what: str) -> list[str]:
    """Apply a config file's ``[config]``/``[s3_config]`` values below env vars and code.

    A key is set only while its env var is unset and it still holds its built-in default (or
    the value a file gave it before); returns the keys that were set.
    """
    spec = _CONFIG_SPEC if what == "config" else _S3_CONFIG_SPEC
    check_keys(values, spec, what)
    applied = []
    for key, value in values.items():
        env, default, _ = spec[key]
        if env is not None and env in os.environ:
            continue
        current = target.get(key)
        previous = _file_values.get((what, key), default)
        if current == default or current == previous:
            target[key] = value
            _file_values[(what, key)] = value
            applied.append(key)
    return applied


# (what, key) -> value last applied from a config file, so an edited file applies again
_file_values: dict[tuple[str, str], Any] = {}


def _instantiate(path: str, env: str) -> Any:
    module_name, sep, attr = path.replace(":", ".").rpartition(".")
    if not sep:
        raise ConfigError(f"environment variable {env}={path!r}: expected 'package.module.Class'")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"environment variable {env}={path!r}: cannot import it ({exc})"
        ) from None
    return cls()


def lineage_client() -> Any:
    """``config["lineage"]``, instantiating ``DFLOW_LINEAGE`` (a class path) on first use."""
    if config["lineage"] is None and os.environ.get("DFLOW_LINEAGE"):
        config["lineage"] = _instantiate(os.environ["DFLOW_LINEAGE"], "DFLOW_LINEAGE")
    return config["lineage"]


def tempdir() -> str:
    """Where dflow puts temporary files: ``DFLOW_TEMPDIR``, else the system's temp dir.

    pydflow assigned ``tempfile.tempdir`` at import; we only answer when asked.
    """
    return os.environ.get("DFLOW_TEMPDIR") or tempfile.gettempdir()

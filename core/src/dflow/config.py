"""Global configuration: pydflow's ``config`` and ``s3_config`` dicts and their environment variables.

Both are plain dicts built from ``DFLOW_*`` environment variables when this module is imported.
``set_config``/``set_s3_config`` update them and reject unknown keys. Nothing else happens at
import: ``DFLOW_LINEAGE`` and ``DFLOW_S3_STORAGE_CLIENT`` are resolved when first needed
(:func:`lineage_client`, :func:`dflow.backends.get_storage_client`), ``DFLOW_TEMPDIR`` through
:func:`tempdir`, and ``LOG_LEVEL`` by the ``dflow`` command.

Every accepted key, and the component that honours it, is declared once in
:mod:`dflow.config_keys`.

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

from .config_keys import KEYS, boolize, nullable, split_headers

__all__ = [
    "boolize",
    "config",
    "s3_config",
    "set_config",
    "set_s3_config",
    "lineage_client",
    "tempdir",
    "ConfigError",
    "nullable",
    "split_headers",
]


class ConfigError(ValueError):
    """A configuration key or value is wrong (the message names it and the fix)."""


# key -> (env var or None, default, parser of the env var's text), from the one table
_CONFIG_SPEC: dict[str, tuple[str | None, Any, Callable[[str], Any]]] = {
    k.name: (k.env, k.default, k.parse) for k in KEYS if k.table == "config"
}
_S3_CONFIG_SPEC: dict[str, tuple[str | None, Any, Callable[[str], Any]]] = {
    k.name: (k.env, k.default, k.parse) for k in KEYS if k.table == "s3_config"
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

    pydflow assigned ``tempfile.tempdir`` at import; we only answer when asked (and make the
    directory when it is missing).
    """
    named = os.environ.get("DFLOW_TEMPDIR")
    if not named:
        return tempfile.gettempdir()
    os.makedirs(named, exist_ok=True)
    return named

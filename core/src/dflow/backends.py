"""Which engine, storage client and executor to use, built from plugins and configuration.

The engine is, in order: the ``name`` argument; ``config["mode"]`` (set in code or by
``DFLOW_MODE``); ``engine`` in the configuration file; ``"local"``. pydflow's mode names are
engine aliases (``"debug"`` is ``local``, ``"default"`` is ``argo``).
"""

from __future__ import annotations

import importlib
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from .config import ConfigError, config, s3_config
from .plugins.manager import PluginManager, get_plugin_manager
from .settings import Settings, load_settings

if TYPE_CHECKING:
    from .engine import Engine
    from .executor import Executor
    from .rendering import Renderer
    from .storage.client import StorageClient

_lock = threading.Lock()
# per plugin manager: (kind, record name, repr(config)) -> instance
_instances: weakref.WeakKeyDictionary[PluginManager, dict[tuple[str, str, str], Any]] = (
    weakref.WeakKeyDictionary()
)


# (id of the manager, id of the settings) checked -> both objects: holding them keeps their
# ids from being reused by new objects (a new file's settings would skip the check)
_checked: dict[tuple[int, int], tuple[PluginManager, Settings]] = {}


def _settings() -> Settings:
    settings = load_settings()
    settings.apply_config()
    pm = get_plugin_manager()
    if (id(pm), id(settings)) not in _checked:  # settings are cached per file version
        settings.check_sections(pm)  # a misspelled [engines.locl] fails here, not silently
        _checked[(id(pm), id(settings))] = (pm, settings)
    return settings


def _build(pm: PluginManager, kind: str, record: Any, settings: Settings) -> Any:
    cfg = settings.plugin_config(kind, record.name, record)
    key = (kind, record.name, repr(cfg))
    with _lock:
        cache = _instances.setdefault(pm, {})
        if key not in cache:
            cache[key] = record.build(cfg)
        return cache[key]


def engine_name(name: str | None = None) -> str:
    """The canonical name of the engine that :func:`get_engine` would use."""
    return get_plugin_manager().engine(requested_engine(name)).name


def requested_engine(name: str | None = None, settings: Settings | None = None) -> str:
    """The engine name asked for (argument, mode, file, default), before plugin lookup."""
    if name or config.get("mode"):
        return name or config["mode"]
    return (settings if settings is not None else _settings()).engine or "local"


def get_engine(name: str | None = None) -> Engine:
    """The engine instance for ``name`` (default: from configuration), built once per config."""
    pm = get_plugin_manager()
    settings = _settings()
    record = pm.engine(requested_engine(name, settings))
    return _build(pm, "engine", record, settings)


def storage_name(settings: Settings | None = None) -> str:
    """The storage plugin name in effect: the file's ``storage``, else ``local`` (``minio``
    when the engine is Argo, as in pydflow)."""
    settings = settings if settings is not None else _settings()
    if settings.storage:
        return settings.storage
    # pydflow stored Argo artifacts in MinIO by default; the local engine keeps them on disk
    requested = requested_engine(None, settings)
    from .plugins.manager import CORE_ALIASES

    if CORE_ALIASES["engine"].get(requested, requested) == "argo":
        return "minio"
    from .config import config

    if config.get("debug_s3"):  # pydflow: the local engine with artifacts in the real S3
        return "minio"
    return "local"


def _from_env_client(value: str) -> Any:
    # DFLOW_S3_STORAGE_CLIENT: a plugin name ("minio") or pydflow's dotted class path
    if "." not in value and ":" not in value:
        return None
    module, _, attr = value.replace(":", ".").rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"environment variable DFLOW_S3_STORAGE_CLIENT={value!r}: cannot import it ({exc})"
        ) from None


def get_storage_client() -> StorageClient:
    """The artifact store: ``s3_config["storage_client"]``, ``DFLOW_S3_STORAGE_CLIENT``, the
    file's ``storage``, else ``local`` (``minio`` when the engine is Argo)."""
    if s3_config.get("storage_client") is not None:
        return s3_config["storage_client"]
    pm = get_plugin_manager()
    settings = _settings()
    env = os.environ.get("DFLOW_S3_STORAGE_CLIENT")
    if env:
        client = _from_env_client(env)
        if client is not None:
            s3_config["storage_client"] = client
            return client
        return _build(pm, "storage", pm.storage(env), settings)
    return _build(pm, "storage", pm.storage(storage_name(settings)), settings)


def storage_kind(settings: Settings | None = None) -> str:
    """The artifact kind of the configured store (``s3``, ``oss``, ``gcs``, ``local``...)."""
    if s3_config.get("storage_client") is not None:
        return s3_config.get("repo_type") or "s3"
    env = os.environ.get("DFLOW_S3_STORAGE_CLIENT")
    if env and "." not in env and ":" not in env:
        return get_plugin_manager().storage(env).artifact_kind
    if env:
        return s3_config.get("repo_type") or "s3"
    return get_plugin_manager().storage(storage_name(settings)).artifact_kind


def get_executor(name: str, **kwargs: Any) -> Executor:
    """A new executor ``name``: ``factory(**kwargs)``, or from its config section when the
    plugin declares a config type and no kwargs are given."""
    pm = get_plugin_manager()
    record = pm.executor(name)
    if kwargs or record.config_type is None:
        return record.build(**kwargs)
    return record.build(_settings().plugin_config("executor", name, record))


def get_default_executor() -> Executor | None:
    """The executor named by ``executor = "..."`` in the configuration file, or None."""
    settings = _settings()
    if not settings.executor:
        return None
    pm = get_plugin_manager()
    return _build(pm, "executor", pm.executor(settings.executor), settings)


def get_renderer(name: str) -> Renderer:
    """The renderer ``name`` (e.g. ``argo``), built once per ``[renderers.<name>]`` config."""
    from .rendering import Renderer

    pm = get_plugin_manager()
    renderer = _build(pm, "renderer", pm.renderer(name), _settings())
    if not isinstance(renderer, Renderer):
        provider = pm.provider("renderer", name)
        raise TypeError(
            f"renderer '{name}' of {provider.distribution} (plugin '{provider.name}') built a "
            f"{type(renderer).__name__}, which lacks render/lint/from_dict of "
            "dflow.rendering.Renderer; fix the plugin's factory"
        )
    return renderer

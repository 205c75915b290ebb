"""Every configuration key dflow accepts, and which component honours it.

One table (:data:`KEYS`) for pydflow's ``config`` and ``s3_config`` keys and the other
environment variables: the variable that sets a key, its default, how the variable's text is
parsed, which components act on it, and what it does (or why nothing does). :mod:`dflow.config`
builds the two dicts from it; :func:`warn_ignored` warns, once per key, when a workflow is
submitted with a key the user set that none of the components in use reads.

Components: ``core`` (always in use), ``engine:<name>``, ``storage:<name>``,
``executor:<name>`` (in use when installed: they act on the steps that use them) and ``cli``
(the ``dflow`` command). Whoever makes a key effective adds its component here.
"""

from __future__ import annotations

import difflib
import json
import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

__all__ = ["KEYS", "Key", "IgnoredConfigWarning", "ignored_keys", "warn_ignored", "boolize"]


class IgnoredConfigWarning(UserWarning):
    """A configuration key the user set is read by no component of this run."""


def boolize(value: object) -> bool:
    """pydflow's rule for boolean env vars: ``""``, ``"false"``, ``"0"`` are False, else True."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0")
    return bool(value)


def _text(raw: str) -> str:
    return raw


def _int(env: str) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        from .config import ConfigError

        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"environment variable {env}={raw!r}: expected an integer") from None

    return parse


def _json(env: str) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        from .config import ConfigError

        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"environment variable {env}: invalid JSON ({exc})") from None

    return parse


def split_headers(raw: str) -> dict[str, str]:
    """``DFLOW_HTTP_HEADERS``: ``"k1:v1;k2:v2"`` -> ``{"k1": "v1", "k2": "v2"}``."""
    from .config import ConfigError

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


def nullable(raw: str | None) -> str | None:
    """pydflow's ``DFLOW_ARCHIVE_MODE`` rule: the text ``"none"`` means None."""
    return None if raw == "none" else raw


def _prefixes(raw: str) -> list[str]:
    return [p for p in raw.split(";") if p]


class Key(NamedTuple):
    """One accepted key: ``table`` is ``config``, ``s3_config`` or ``env`` (a variable only)."""

    name: str
    table: str
    env: str | None
    default: Any
    parse: Callable[[str], Any]
    honoured_by: frozenset[str]
    note: str

    @property
    def label(self) -> str:
        return (self.env or self.name) if self.table == "env" else f"{self.table}[{self.name!r}]"


_C, _S, _E = "config", "s3_config", "env"
_ARGO, _LOCAL = "engine:argo", "engine:local"
_MINIO = "storage:minio"
#: the step cache in an s3:// location reads the storage's endpoint and credentials
_CACHE_S3 = "cache:object-store"


def _k(
    table: str,
    name: str,
    env: str | None,
    default: Any,
    parse: Callable[[str], Any],
    by: Iterable[str],
    note: str,
) -> Key:
    return Key(name, table, env, default, parse, frozenset(by), note)


# fmt: off
KEYS: tuple[Key, ...] = (
    _k(_C, "host", "DFLOW_HOST", "https://127.0.0.1:2746", _text, [_ARGO], "Argo Server URL"),
    _k(_C, "namespace", "DFLOW_NAMESPACE", "argo", _text, [_ARGO], "Kubernetes namespace"),
    _k(_C, "token", "DFLOW_TOKEN", None, _text, [_ARGO], "bearer token for Argo and Kubernetes"),
    _k(_C, "k8s_config_file", "DFLOW_K8S_CONFIG_FILE", None, _text, [_ARGO], "kubeconfig path"),
    _k(_C, "k8s_api_server", "DFLOW_K8S_API_SERVER", None, _text, [_ARGO],
       "Kubernetes API URL"),
    _k(_C, "private_key_host_path", "DFLOW_PRIVATE_KEY_HOST_PATH", None, _text, [],
       "executors take their SSH key as an argument: private_key_file=..."),
    _k(_C, "save_path_as_parameter", "DFLOW_SAVE_PATH_AS_PARAMETER", False, boolize, [],
       "dflow_<artifact>_path_list parameters are not produced"),
    _k(_C, "catalog_dir_name", "DFLOW_CATALOG_DIR_NAME", ".dflow", _text, ["core"],
       "name of the catalog directory inside artifacts"),
    _k(_C, "archive_mode", "DFLOW_ARCHIVE_MODE", "tar", nullable, ["core"],
       "default archive of uploaded artifacts ('tar' or None)"),
    _k(_C, "util_image", "DFLOW_UTIL_IMAGE", "python:3.8", _text, [_ARGO],
       "image of the helper steps Argo runs (slices, success checks)"),
    _k(_C, "util_image_pull_policy", "DFLOW_UTIL_IMAGE_PULL_POLICY", None, _text, [_ARGO],
       "pull policy of util_image"),
    _k(_C, "extender_image", "DFLOW_EXTENDER_IMAGE", "dptechnology/dflow-extender", _text, [],
       "remote executors take their image as an argument: image=..."),
    _k(_C, "extender_image_pull_policy", "DFLOW_EXTENDER_IMAGE_PULL_POLICY", None, _text, [],
       "remote executors take it as an argument: image_pull_policy=..."),
    _k(_C, "dispatcher_image", "DFLOW_DISPATCHER_IMAGE", "dptechnology/dpdispatcher", _text,
       [_ARGO], "default image of DispatcherExecutor pods (DispatcherExecutor(image=...))"),
    _k(_C, "dispatcher_image_pull_policy", "DFLOW_DISPATCHER_IMAGE_PULL_POLICY", None, _text,
       [_ARGO], "default pull policy of DispatcherExecutor pods"),
    _k(_C, "save_keys_in_global_outputs", "DFLOW_SAVE_KEYS_IN_GLOBAL_OUTPUTS", False, boolize,
       [_ARGO], "dflow_key_<key> global outputs of keyed pod steps"),
    # None: the engine named in dflow.toml, else "local" (pydflow defaulted to Argo)
    _k(_C, "mode", "DFLOW_MODE", None, _text, ["core"], "the engine ('debug'/'local', "
       "'default'/'argo', or a plugin's name)"),
    # DFLOW_LINEAGE (a dotted class path) is instantiated by lineage_client(), not at import
    _k(_C, "lineage", None, None, _text, ["core"], "LineageClient told about uploads"),
    _k(_C, "register_tasks", "DFLOW_REGISTER_TASKS", False, boolize, [],
       "steps are not registered with the lineage client"),
    _k(_C, "http_headers", "DFLOW_HTTP_HEADERS", {}, split_headers, [_ARGO],
       "extra headers on every Argo/Kubernetes request"),
    _k(_C, "workflow_annotations", "DFLOW_WORKFLOW_ANNOTATIONS", {},
       _json("DFLOW_WORKFLOW_ANNOTATIONS"), [_ARGO],
       "default annotations of Argo workflows (Workflow(annotations=...) adds to them)"),
    _k(_C, "overwrite_reused_artifact", "DFLOW_OVERWRITE_REUSED_ARTIFACT", True, boolize,
       [_ARGO], "reused sliced outputs referenced in place (False: copied for the new run)"),
    _k(_C, "raise_on_failure", "DFLOW_RAISE_ON_FAILURE", False, boolize, ["core"],
       "submit()/wait() raise WorkflowFailed when the workflow ends Failed or Error"),
    _k(_C, "quiet", "DFLOW_QUIET", False, boolize, ["core"],
       "no progress and no messages on stderr but failures"),
    _k(_C, "progress_interval", "DFLOW_PROGRESS_INTERVAL", 10, _int("DFLOW_PROGRESS_INTERVAL"),
       ["core"], "seconds between progress lines when stderr is not a terminal"),
    _k(_C, "detach", "DFLOW_DETACH", False, boolize, [_LOCAL],
       "run local workflows in the background"),
    _k(_C, "debug_copy_method", "DFLOW_DEBUG_COPY_METHOD", "symlink", _text, [_LOCAL],
       "how input artifacts are placed in step directories (and local outputs downloaded)"),
    _k(_C, "debug_pool_workers", "DFLOW_DEBUG_POOL_WORKERS", None,
       _int("DFLOW_DEBUG_POOL_WORKERS"), [_LOCAL], "concurrent local steps"),
    _k(_C, "debug_batch_size", "DFLOW_DEBUG_BATCH_SIZE", None, _int("DFLOW_DEBUG_BATCH_SIZE"),
       [_LOCAL], "local fan-out throttle: items per batch"),
    _k(_C, "debug_batch_interval", "DFLOW_DEBUG_BATCH_INTERVAL", 30,
       _int("DFLOW_DEBUG_BATCH_INTERVAL"), [_LOCAL], "seconds between local batches"),
    _k(_C, "detect_empty_dir", "DFLOW_DETECT_EMPTY_DIR", True, boolize, ["core"],
       ".empty_dir markers for empty output directories"),
    _k(_C, "artifact_register", None, {}, _text, ["core"],
       "URN scheme -> CustomArtifact class"),
    _k(_C, "debug_s3", "DFLOW_DEBUG_S3", False, boolize, [_LOCAL, "core"],
       "local engine with artifacts in the object store"),
    _k(_C, "debug_workdir", "DFLOW_DEBUG_WORKDIR", ".", _text, [_LOCAL],
       "root of local workflow directories"),
    _k(_C, "debug_artifact_dir", "DFLOW_DEBUG_ARTIFACT_DIR", ".", _text, [_LOCAL],
       "local artifact store, relative to debug_workdir"),
    _k(_C, "debug_failfast", "DFLOW_DEBUG_FAILFAST", False, boolize, [_LOCAL],
       "stop a local fan-out at its first failed item"),
    _k(_C, "debug_save_copy_method", "DFLOW_DEBUG_SAVE_COPY_METHOD", "symlink", _text, [],
       "the local engine keeps saved outputs in its artifact store"),
    _k(_C, "raise_for_group", "DFLOW_RAISE_FOR_GROUP", False, boolize, [],
       "set Slices(raise_for_group=True) on the template"),
    _k(_C, "dispatcher_debug", "DISPATCHER_DEBUG", False, boolize, [],
       "configure dpdispatcher's logger in your logging setup"),
    _k(_C, "dereference_symlink", "DFLOW_DEREFERENCE_SYMLINK", False, boolize, [],
       "input artifacts are placed by debug_copy_method"),

    _k(_S, "endpoint", "DFLOW_S3_ENDPOINT", "127.0.0.1:9000", _text, [_MINIO, _CACHE_S3],
       "S3 endpoint"),
    _k(_S, "console", "DFLOW_S3_CONSOLE", "http://127.0.0.1:9001", _text, [],
       "OP.get_*_artifact_link is not provided"),
    _k(_S, "access_key", "DFLOW_S3_ACCESS_KEY", "admin", _text, [_MINIO, _CACHE_S3],
       "S3 access key"),
    _k(_S, "secret_key", "DFLOW_S3_SECRET_KEY", "password", _text, [_MINIO, _CACHE_S3],
       "S3 secret key"),
    _k(_S, "secure", "DFLOW_S3_SECURE", False, boolize, [_MINIO, _CACHE_S3],
       "https to the S3 endpoint"),
    _k(_S, "bucket_name", "DFLOW_S3_BUCKET_NAME", "my-bucket", _text, [_MINIO], "S3 bucket"),
    _k(_S, "repo_key", "DFLOW_S3_REPO_KEY", None, _text, [_ARGO],
       "default artifactRepositoryRef key of Argo workflows (the ConfigMap itself is not "
       "read: choose the store in dflow.toml)"),
    _k(_S, "repo", "DFLOW_S3_REPO", None, _json("DFLOW_S3_REPO"), [],
       "the artifact-repositories ConfigMap is not read: choose the store in dflow.toml"),
    _k(_S, "repo_type", "DFLOW_S3_REPO_TYPE", "s3", _text, ["core"],
       "artifact kind of a custom storage_client ('s3' or 'oss')"),
    _k(_S, "repo_prefix", "DFLOW_S3_REPO_PREFIX", "", _text, ["core"],
       "key prefix of the artifact repository"),
    _k(_S, "prefix", "DFLOW_S3_PREFIX", "", _text, ["core"], "prefix added to artifact keys"),
    # DFLOW_S3_STORAGE_CLIENT is resolved by dflow.backends.get_storage_client()
    _k(_S, "storage_client", None, None, _text, ["core"], "the StorageClient to use"),
    _k(_S, "extra_prefixes", "DFLOW_S3_EXTRA_PREFIXES", [], _prefixes, ["core"],
       "key prefixes exempt from the prefix"),

    _k(_E, "DFLOW_CONFIG", "DFLOW_CONFIG", None, _text, ["core"], "the dflow.toml to read"),
    _k(_E, "DFLOW_PLUGINS", "DFLOW_PLUGINS", None, _text, ["core"], "plugins allowed"),
    _k(_E, "DFLOW_DISABLE_PLUGINS", "DFLOW_DISABLE_PLUGINS", None, _text, ["core"],
       "plugins disabled"),
    _k(_E, "DFLOW_LINEAGE", "DFLOW_LINEAGE", None, _text, ["core"],
       "LineageClient class path, instantiated on first use"),
    _k(_E, "DFLOW_S3_STORAGE_CLIENT", "DFLOW_S3_STORAGE_CLIENT", None, _text, ["core"],
       "storage plugin name or StorageClient class path"),
    _k(_E, "DFLOW_RESUME_ID", "DFLOW_RESUME_ID", None, _text, [_LOCAL],
       "set by `dflow retry`: '<name>=<id>', the run a script's submit resumes"),
    _k(_E, "DFLOW_CACHE", "DFLOW_CACHE", None, _text, ["core"],
       "1/0: the step cache on or off for steps that do not choose (over [cache] enabled)"),
    _k(_E, "DFLOW_CACHE_DIR", "DFLOW_CACHE_DIR", None, _text, ["core"],
       "the step cache's directory (over [cache] location)"),
    _k(_E, "DFLOW_TEMPDIR", "DFLOW_TEMPDIR", None, _text, ["core"],
       "where dflow puts temporary files"),
    _k(_E, "LOG_LEVEL", "LOG_LEVEL", None, _text, ["cli"],
       "log level of the dflow command (a script configures logging itself)"),
)
# fmt: on

_BY_NAME = {(k.table, k.name): k for k in KEYS}
_DOCUMENTED_ENV = {k.env for k in KEYS if k.env}


def _is_set(key: Key, values: dict[str, dict[str, Any]]) -> bool:
    if key.env is not None and key.env in os.environ:
        return True
    if key.table == _E:
        return False
    current = values[key.table].get(key.name, key.default)
    return json.dumps(current, sort_keys=True, default=repr) != json.dumps(
        key.default, sort_keys=True, default=repr
    )


def _who(components: Iterable[str]) -> str:
    names = []
    for c in sorted(components):
        kind, _, name = c.partition(":")
        names.append({"core": "dflow", "cli": "the dflow command"}.get(kind, f"the {name} {kind}"))
    return " and ".join(names)


def ignored_keys(
    active: Iterable[str],
    config: dict[str, Any] | None = None,
    s3_config: dict[str, Any] | None = None,
    unread_only: bool = False,
) -> list[tuple[str, str]]:
    """``(label, message)`` for each key that is set but read by none of ``active``
    (``unread_only``: only the keys no component reads at all)."""
    from .config import config as current
    from .config import s3_config as current_s3

    values = {
        _C: current if config is None else config,
        _S: current_s3 if s3_config is None else s3_config,
    }
    active = set(active) | {"core"}
    out = []
    for key in KEYS:
        if key.honoured_by & active or key.table == _E and "cli" in key.honoured_by:
            continue
        if not _is_set(key, values) or unread_only and key.honoured_by:
            continue
        how = f" (set by {key.env})" if key.env and key.env in os.environ else ""
        if not key.honoured_by:
            why = f"dflow ignores it: {key.note}"
        else:
            verb = "reads" if len(key.honoured_by) == 1 else "read"
            why = (
                f"only {_who(key.honoured_by)} {verb} it ({key.note}), which this run does not use"
            )
        out.append((key.label, f"{key.label} is set{how} but {why}"))
    for env in sorted(os.environ):
        if env.startswith("DFLOW_") and env not in _DOCUMENTED_ENV:
            close = difflib.get_close_matches(env, sorted(_DOCUMENTED_ENV), n=1, cutoff=0.9)
            if close:  # a typo of a documented variable (dflow sets others for its steps)
                out.append(
                    (
                        env,
                        f"environment variable {env} is not read by dflow; did you "
                        f"mean {close[0]}?",
                    )
                )
    return out


_warned: set[str] = set()


def warn_ignored(active: Iterable[str], unread_only: bool = False) -> list[str]:
    """Warn (:class:`IgnoredConfigWarning`, once per key and process) about ignored keys."""
    messages = []
    for label, message in ignored_keys(active, unread_only=unread_only):
        if label not in _warned:
            _warned.add(label)
            warnings.warn(message, IgnoredConfigWarning, stacklevel=3)
            messages.append(message)
    return messages


def active_components(engine: str) -> set[str]:
    """The components a submission to ``engine`` uses: core, the engine, the storage, and
    the installed executors."""
    from . import backends
    from .config import s3_config
    from .plugins.manager import get_plugin_manager

    active = {"core", f"engine:{engine}"}
    from .config import ConfigError
    from .plugins.manager import PluginError

    pm = get_plugin_manager()
    if s3_config.get("storage_client") is not None:
        active.add("storage:custom")
    else:
        try:
            active.add(f"storage:{pm.storage(backends.storage_name()).name}")
        except (PluginError, ConfigError):  # reported when an artifact needs the store
            pass
    active |= {f"executor:{name}" for name in pm.executors()}
    from .cache.settings import cache_settings

    try:
        if cache_settings().scheme == "s3":
            active.add(_CACHE_S3)
    except ValueError:  # a bad [cache] table is reported where the cache is used
        pass
    return active

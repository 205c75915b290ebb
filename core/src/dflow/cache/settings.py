"""Whether and where steps use the cache: ``[cache]`` in dflow.toml, ``DFLOW_CACHE*`` variables.

::

    [cache]
    enabled = true                  # default false: steps opt in with cache=True
    location = "~/.cache/dflow"     # the cache directory (entries/, history/, digests/)
    max_size = "10G"                # `dflow cache prune` with no option trims to this

    # or in an S3 bucket (endpoint and credentials: the configured storage's, s3_config)
    location = "s3://bucket/prefix"
    endpoint = "http://127.0.0.1:9000"   # default: s3_config endpoint (and secure)
    region = "us-east-1"
    secret = "cache-cred"           # Argo: a Secret with keys accesskey/secretkey (optional)

    # or in an Aliyun OSS / Google Cloud Storage bucket (endpoint and credentials: those of
    # the oss / gcs storage plugin, [storages.oss] / [storages.gcs])
    location = "oss://bucket/prefix"     # or "gs://bucket/prefix"

``DFLOW_CACHE=1|0`` and ``DFLOW_CACHE_DIR`` override the file. A Step's ``cache`` wins over
its template's, which wins over ``enabled``.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

import attrs

from ..config_keys import boolize
from ..model.saves import volume_reads
from ..plugins.records import CacheAccess
from ..runner.caches3 import ACCESS_ENV, SECRET_ENV
from ..settings import SettingsError, load_settings, structure

DEFAULT_LOCATION = os.path.join("~", ".cache", "dflow")
#: bucket schemes, and the storage plugin whose configuration reaches each (None: s3_config)
SCHEMES = {"s3": None, "oss": "oss", "gs": "gcs"}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(value: Any, where: str = "max_size") -> int | None:
    """Bytes from ``1048576``, ``"512M"``, ``"10G"``, ``"1.5GiB"``; None for None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if match is None:
        raise SettingsError(
            f"{where}: {value!r} is not a size; write a number of bytes or e.g. '500M', '10G'"
        )
    scale = 1024 ** " kmgt".index((match.group(2) or " ").lower())
    return int(float(match.group(1)) * scale)


@attrs.frozen
class CacheSettings:
    """The ``[cache]`` table."""

    enabled: bool = False
    location: str = DEFAULT_LOCATION
    max_size: str | None = None  # "10G"; a number of bytes may be given as an int too
    endpoint: str | None = None  # the bucket store's endpoint (default: its storage's)
    region: str = "us-east-1"
    secret: str | None = None  # Argo: the Secret holding accesskey/secretkey for the pods

    @property
    def in_object_store(self) -> bool:
        return "://" in self.location

    @property
    def root(self) -> str:
        """The cache directory, or the ``s3://bucket/prefix`` location."""
        if self.in_object_store:
            return self.location.rstrip("/")
        return os.path.abspath(os.path.expanduser(self.location))

    @property
    def scheme(self) -> str:
        """``s3``, ``oss`` or ``gs`` for a bucket, "" for a directory."""
        return self.location.split("://", 1)[0] if self.in_object_store else ""

    def check_location(self, where: str = "[cache] location") -> None:
        """A clear error for a location no runner can use."""
        if not self.in_object_store:
            return
        scheme = self.scheme
        if scheme not in SCHEMES:
            raise SettingsError(
                f"{where}: {self.location!r}: the step cache can live in a directory or in a "
                "bucket (s3://, oss:// or gs://bucket/prefix), not in a(n) "
                f"{scheme}:// store (docs/cache.md)"
            )
        bucket = self.location.split("://", 1)[1].split("/", 1)[0]
        if not bucket:
            raise SettingsError(
                f"{where}: {self.location!r} names no bucket: {scheme}://bucket/prefix"
            )

    def access(self) -> CacheAccess:
        """How runners reach the bucket: for s3://, s3_config's endpoint and keys (and
        ``region``); for oss:// and gs://, what the oss / gcs storage plugin derives from its
        configuration. ``endpoint`` overrides the endpoint."""
        found = self._access()
        if self.endpoint:
            endpoint = self.endpoint if "://" in self.endpoint else f"https://{self.endpoint}"
            found = attrs.evolve(found, endpoint=endpoint)
        return found

    def _access(self) -> CacheAccess:
        name = SCHEMES.get(self.scheme)
        if name is None:
            from ..config import s3_config

            endpoint = str(s3_config["endpoint"])
            if "://" not in endpoint:
                endpoint = f"{'https' if s3_config.get('secure') else 'http'}://{endpoint}"
            keys = (
                (ACCESS_ENV, "accesskey", str(s3_config.get("access_key") or "")),
                (SECRET_ENV, "secretkey", str(s3_config.get("secret_key") or "")),
            )
            return CacheAccess(endpoint=endpoint, region=self.region, secrets=keys)
        from ..plugins.manager import PluginNotFoundError, get_plugin_manager

        where = f"[cache] location {self.location!r}"
        try:
            record = get_plugin_manager().get("storage", name)
        except PluginNotFoundError:
            raise SettingsError(
                f"{where}: a {self.scheme}:// cache is reached with the {name} storage's "
                f"settings ([storages.{name}]), and the dflow-storage-{name} plugin is not "
                f"installed: pip install dflow-storage-{name}"
            ) from None
        if record.cache_access is None:
            raise SettingsError(f"{where}: the installed {name} storage cannot hold the cache")
        return record.cache_access(load_settings().plugin_config("storage", name, record))

    def endpoint_url(self) -> str:
        """``http(s)://host:port`` of the bucket's store (see :meth:`access`)."""
        return self.access().endpoint

    def runner_env(self) -> dict[str, str]:
        """The environment a local runner needs to reach the bucket (credentials as values:
        never written to a workdir); {} for a directory."""
        if not self.in_object_store:
            return {}
        found = self.access()
        env = {name: value for name, _key, value in found.secrets}
        return {**env, **found.plain, **found.workers}

    @property
    def max_bytes(self) -> int | None:
        return parse_size(self.max_size, "[cache] max_size")

    def pod_env(self) -> dict[str, Any]:
        """The environment a pod's runner needs for a bucket, credentials as ``Secret``
        references (never values): to ``secret`` when set (its keys ``accesskey`` and
        ``secretkey``, as Argo's artifact repositories name them), else to Secrets dflow
        creates at submit from the storage's credentials; {} for a directory."""
        if not self.in_object_store:
            return {}
        from ..model.op_template import Secret

        found = self.access()
        env: dict[str, Any] = dict(found.plain)
        if self.secret:
            for name, key, _value in found.secrets:
                env[name] = Secret(name=self.secret, key=key)
            return env
        if found.secrets:
            # one name per endpoint and identity: a resubmission replaces the same Secrets
            ident = f"{found.endpoint} {found.secrets[0][2]}"
            tag = hashlib.sha256(ident.encode()).hexdigest()[:12]
            for name, key, value in found.secrets:
                env[name] = Secret(value, name=f"dflow-cache-{tag}-{key[:1]}", key=key)
        return env


def object_store(location: str, settings: CacheSettings | None = None) -> Any:
    """The entries at a bucket ``location`` as this process reaches them: the endpoint and
    credentials runners get (:meth:`CacheSettings.runner_env`)."""
    from ..runner.cacheobj import open_bucket

    settings = attrs.evolve(settings or cache_settings(), location=location)
    settings.check_location(location)
    found = settings.access()
    env = {**os.environ, **settings.runner_env()}
    return open_bucket(settings.root, found.endpoint, found.region, env)


def cache_settings() -> CacheSettings:
    """The cache settings in effect (file, then environment)."""
    found = load_settings()
    where = f"{found.prefix}cache"
    table = dict(found.cache)
    if isinstance(table.get("max_size"), int) and not isinstance(table["max_size"], bool):
        table["max_size"] = str(table["max_size"])
    value: CacheSettings = structure(table, CacheSettings, source=found.source, path=where)
    value.max_bytes  # noqa: B018 - a bad size is an error where it is written
    value.check_location(f"{found.source}: {where}.location" if found.source else where)
    env = os.environ.get("DFLOW_CACHE")
    if env:
        value = attrs.evolve(value, enabled=boolize(env))
    if os.environ.get("DFLOW_CACHE_DIR"):
        value = attrs.evolve(value, location=os.environ["DFLOW_CACHE_DIR"])
        value.check_location("DFLOW_CACHE_DIR")
    return value


def cache_enabled(step: Any, template: Any, settings: CacheSettings) -> bool:
    """The step's choice, else the template's, else the configuration's; never for a step
    reading a shared volume (its input is written while it runs: nothing to key)."""
    chosen = next((c for c in (step.cache, template.cache) if c is not None), settings.enabled)
    # asked last: most steps use no cache, and they pay nothing for the question
    return bool(chosen) and not volume_reads(step)

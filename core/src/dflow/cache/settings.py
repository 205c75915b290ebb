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
from ..runner.caches3 import ACCESS_ENV, SECRET_ENV
from ..settings import SettingsError, load_settings, structure

DEFAULT_LOCATION = os.path.join("~", ".cache", "dflow")
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
    endpoint: str | None = None  # an s3:// location's endpoint (default: s3_config's)
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

    def check_location(self, where: str = "[cache] location") -> None:
        """A clear error for a location no runner can use."""
        if not self.in_object_store:
            return
        scheme = self.location.split("://", 1)[0]
        if scheme != "s3":
            raise SettingsError(
                f"{where}: {self.location!r}: the step cache can live in a directory or in an "
                "S3 bucket (s3://bucket/prefix), not in a(n) "
                f"{scheme}:// store; an OSS or GCS bucket serves through its S3-compatible "
                "endpoint as s3:// with [cache] endpoint (docs/cache.md)"
            )
        bucket = self.location[len("s3://") :].split("/", 1)[0]
        if not bucket:
            raise SettingsError(f"{where}: {self.location!r} names no bucket: s3://bucket/prefix")

    def s3_endpoint(self) -> str:
        """``http(s)://host:port`` of an s3:// location: ``endpoint``, else s3_config's."""
        if self.endpoint:
            return self.endpoint if "://" in self.endpoint else f"https://{self.endpoint}"
        from ..config import s3_config

        endpoint = str(s3_config["endpoint"])
        if "://" in endpoint:
            return endpoint
        return f"{'https' if s3_config.get('secure') else 'http'}://{endpoint}"

    def runner_env(self) -> dict[str, str]:
        """The environment a runner needs to reach an s3:// location: the credentials of
        the configured storage (s3_config); {} for a directory."""
        if not self.in_object_store:
            return {}
        from ..config import s3_config

        return {
            ACCESS_ENV: str(s3_config.get("access_key") or ""),
            SECRET_ENV: str(s3_config.get("secret_key") or ""),
        }

    @property
    def max_bytes(self) -> int | None:
        return parse_size(self.max_size, "[cache] max_size")

    def pod_env(self) -> dict[str, Any]:
        """The environment a pod's runner needs for an s3:// location, as ``Secret``
        references (never values): to ``secret`` when set (keys ``accesskey`` and
        ``secretkey``, as Argo's artifact repositories name them), else to Secrets dflow
        creates at submit from the configured storage's credentials; {} for a directory."""
        if not self.in_object_store:
            return {}
        from ..model.op_template import Secret

        if self.secret:
            return {
                ACCESS_ENV: Secret(name=self.secret, key="accesskey"),
                SECRET_ENV: Secret(name=self.secret, key="secretkey"),
            }
        values = self.runner_env()
        # one name per endpoint and identity: a resubmission replaces the same Secrets
        tag = hashlib.sha256(f"{self.s3_endpoint()} {values[ACCESS_ENV]}".encode()).hexdigest()
        return {
            ACCESS_ENV: Secret(
                values[ACCESS_ENV], name=f"dflow-cache-{tag[:12]}-a", key="accesskey"
            ),
            SECRET_ENV: Secret(
                values[SECRET_ENV], name=f"dflow-cache-{tag[:12]}-s", key="secretkey"
            ),
        }


def object_store(location: str, settings: CacheSettings | None = None) -> Any:
    """The entries at an ``s3://`` ``location`` as the client reaches them: the endpoint and
    region of ``[cache]``, the configured storage's credentials (s3_config)."""
    from ..config import s3_config
    from ..runner.caches3 import S3Store

    settings = attrs.evolve(settings or cache_settings(), location=location)
    settings.check_location(location)
    return S3Store(
        settings.root,
        settings.s3_endpoint(),
        settings.region,
        str(s3_config.get("access_key") or ""),
        str(s3_config.get("secret_key") or ""),
    )


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
    """The step's choice, else the template's, else the configuration's."""
    for choice in (step.cache, template.cache):
        if choice is not None:
            return bool(choice)
    return settings.enabled

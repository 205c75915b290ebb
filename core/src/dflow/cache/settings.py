"""Whether and where steps use the cache: ``[cache]`` in dflow.toml, ``DFLOW_CACHE*`` variables.

::

    [cache]
    enabled = true                  # default false: steps opt in with cache=True
    location = "~/.cache/dflow"     # the cache directory (entries/, history/, digests/)
    max_size = "10G"                # `dflow cache prune` with no option trims to this

``DFLOW_CACHE=1|0`` and ``DFLOW_CACHE_DIR`` override the file. A Step's ``cache`` wins over
its template's, which wins over ``enabled``.
"""

from __future__ import annotations

import os
import re
from typing import Any

import attrs

from ..config_keys import boolize
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

    @property
    def root(self) -> str:
        return os.path.abspath(os.path.expanduser(self.location))

    @property
    def max_bytes(self) -> int | None:
        return parse_size(self.max_size, "[cache] max_size")


def cache_settings() -> CacheSettings:
    """The cache settings in effect (file, then environment)."""
    found = load_settings()
    where = f"{found.prefix}cache"
    table = dict(found.cache)
    if isinstance(table.get("max_size"), int) and not isinstance(table["max_size"], bool):
        table["max_size"] = str(table["max_size"])
    value: CacheSettings = structure(table, CacheSettings, source=found.source, path=where)
    value.max_bytes  # noqa: B018 - a bad size is an error where it is written
    env = os.environ.get("DFLOW_CACHE")
    if env:
        value = attrs.evolve(value, enabled=boolize(env))
    if os.environ.get("DFLOW_CACHE_DIR"):
        value = attrs.evolve(value, location=os.environ["DFLOW_CACHE_DIR"])
    return value


def cache_enabled(step: Any, template: Any, settings: CacheSettings) -> bool:
    """The step's choice, else the template's, else the configuration's."""
    for choice in (step.cache, template.cache):
        if choice is not None:
            return bool(choice)
    return settings.enabled

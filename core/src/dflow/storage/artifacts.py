"""Artifact references: where an artifact lives, with no I/O at construction.

- :class:`S3Artifact`: an object-store key (whatever store the configured client talks to).
- :class:`LocalArtifact`: a local path.
- :class:`HTTPArtifact`: a URL fetched on download.
- :class:`CustomArtifact`: a plugin-defined artifact addressed by URN.

``S3Artifact.to_dict()`` never contains credentials (pydflow stored all of ``s3_config`` in it).
"""

from __future__ import annotations

import abc
import importlib
from typing import Any

from .errors import StorageError


def config_dicts() -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config, s3_config)`` of :mod:`dflow.config`, read at call time."""
    # by module path: the package may also export a dict named ``config``
    module = importlib.import_module("dflow.config")
    return module.config, module.s3_config


def auto_prefix(key: str) -> str:
    """``key`` with ``s3_config["prefix"]`` prepended, unless it already starts with it or with
    one of ``s3_config["extra_prefixes"]``."""
    _, s3 = config_dicts()
    prefix = s3.get("prefix") or ""
    if not prefix or key.startswith(prefix):
        return key
    if any(p and key.startswith(p) for p in s3.get("extra_prefixes") or []):
        return key
    return prefix + key


def _join(key: str, sub: str | None) -> str:
    if not sub:
        return key
    return key.rstrip("/") + "/" + sub.strip("/")


class S3Artifact:
    """An artifact stored under ``key`` in the configured object store.

    ``sub_path`` selects a file or dir inside it, ``slice`` an item of a list artifact; both
    are applied by :func:`dflow.storage.download_artifact` and by the engines.
    Two artifacts are equal when key, sub_path and slice are equal.
    """

    def __init__(
        self,
        key: str | None = None,
        path_list: list[dict] | None = None,
        urn: str = "",
        debug_s3: bool = False,
        *,
        sub_path: str | None = None,
        slice: Any = None,
    ) -> None:
        if key is not None and not isinstance(key, str):
            raise TypeError(f"S3Artifact key must be a str, got {type(key).__name__}: {key!r}")
        self.key = auto_prefix(key) if key else key
        self.path_list = path_list
        self.urn = urn
        self.debug_s3 = debug_s3
        self._sub_path = sub_path
        self.slice = slice

    # pydflow exposes ``sub_path`` as a method returning a new artifact; the selected path is
    # kept in ``_sub_path`` and read through ``selected_path``.
    def sub_path(self, path: str) -> S3Artifact:
        """A new artifact for ``path`` inside this one."""
        return self._evolve(sub_path=_join(self._sub_path or "", path).lstrip("/"))

    @property
    def selected_path(self) -> str | None:
        """The sub path selected with :meth:`sub_path` (None for the whole artifact)."""
        return self._sub_path

    @property
    def full_key(self) -> str | None:
        """``key`` joined with the selected sub path."""
        return _join(self.key, self._sub_path) if self.key else self.key

    def __getitem__(self, item: Any) -> S3Artifact:
        return self._evolve(slice=item)

    def _evolve(self, **changes: Any) -> S3Artifact:
        new = S3Artifact.__new__(S3Artifact)
        new.__dict__.update(self.__dict__)
        for name, value in changes.items():
            setattr(new, "_sub_path" if name == "sub_path" else name, value)
        return new

    def download(self, **kwargs: Any) -> Any:
        """Download this artifact (see :func:`dflow.storage.download_artifact`)."""
        from .api import download_artifact

        return download_artifact(self, **kwargs)

    def oss(self) -> dict[str, str]:
        """The Argo ``oss:`` location of this artifact (``repo_prefix`` + key)."""
        _, s3 = config_dicts()
        return {"key": (s3.get("repo_prefix") or "") + (self.full_key or "")}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, without any credential."""
        data: dict[str, Any] = {"key": self.key}
        for name, value in (
            ("path_list", self.path_list),
            ("urn", self.urn),
            ("debug_s3", self.debug_s3),
            ("sub_path", self._sub_path),
            ("slice", self.slice),
        ):
            if value not in (None, "", False):
                data[name] = value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> S3Artifact:
        if not isinstance(data, dict) or "key" not in data:
            raise ValueError(f"not an S3Artifact dict (needs a 'key'): {data!r}")
        art = cls.__new__(cls)
        art.key = data["key"]  # already prefixed when it was saved
        art.path_list = data.get("path_list")
        art.urn = data.get("urn", "")
        art.debug_s3 = data.get("debug_s3", False)
        art._sub_path = data.get("sub_path")
        art.slice = data.get("slice")
        return art

    def _identity(self) -> tuple:
        return (self.key, self._sub_path, repr(self.slice))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3Artifact) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        extra = "".join(
            f", {n}={v!r}" for n, v in (("sub_path", self._sub_path), ("slice", self.slice)) if v
        )
        return f"S3Artifact(key={self.key!r}{extra})"


class LocalArtifact:
    """An artifact at a local path (file or directory)."""

    def __init__(self, local_path: str, *, sub_path: str | None = None, slice: Any = None) -> None:
        self.local_path = str(local_path)
        self._sub_path = sub_path
        self.slice = slice

    def sub_path(self, path: str) -> LocalArtifact:
        return LocalArtifact(
            self.local_path,
            sub_path=_join(self._sub_path or "", path).lstrip("/"),
            slice=self.slice,
        )

    @property
    def selected_path(self) -> str | None:
        return self._sub_path

    def __getitem__(self, item: Any) -> LocalArtifact:
        return LocalArtifact(self.local_path, sub_path=self._sub_path, slice=item)

    def download(self, **kwargs: Any) -> Any:
        from .api import download_artifact

        return download_artifact(self, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"local_path": self.local_path}
        if self._sub_path:
            data["sub_path"] = self._sub_path
        if self.slice is not None:
            data["slice"] = self.slice
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalArtifact:
        return cls(data["local_path"], sub_path=data.get("sub_path"), slice=data.get("slice"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalArtifact) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.local_path, self._sub_path, repr(self.slice)))

    def __repr__(self) -> str:
        return f"LocalArtifact({self.local_path!r})"


class HTTPArtifact:
    """An input artifact fetched from ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url

    def download(self, path: str = ".", **kwargs: Any) -> Any:
        from .api import download_artifact

        return download_artifact(self, path=path, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HTTPArtifact:
        return cls(data["url"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HTTPArtifact) and self.url == other.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __repr__(self) -> str:
        return f"HTTPArtifact({self.url!r})"


class CustomArtifact(abc.ABC):
    """An artifact type defined by a plugin, addressed by a URN ``<protocol>://...``.

    Plugins map the protocol to their class's dotted path in ``config["artifact_register"]``;
    :meth:`from_urn` on this base class dispatches there. ``redirect`` (optional) names another
    artifact the engines should use in its place.
    """

    redirect: Any = None

    @abc.abstractmethod
    def get_urn(self) -> str:
        """The URN identifying this artifact."""

    @classmethod
    def from_urn(cls, urn: str) -> CustomArtifact:
        """The artifact for ``urn``: on the base class, looked up by the URN's protocol."""
        if cls is not CustomArtifact:
            raise NotImplementedError(f"{cls.__name__} must implement from_urn")
        protocol = urn.split("://", 1)[0] if "://" in urn else ""
        config, _ = config_dicts()
        registry = config.get("artifact_register") or {}
        target = registry.get(protocol)
        if target is None:
            known = ", ".join(sorted(registry)) or "none"
            raise StorageError(
                f"no artifact type is registered for URN '{urn}' (protocol '{protocol}')",
                hint=f"install the plugin providing it; registered protocols: {known}",
            )
        if isinstance(target, str):
            module_name, _, attr = target.rpartition(".")
            target = getattr(importlib.import_module(module_name), attr)
        return target.from_urn(urn)

    @abc.abstractmethod
    def download(self, name: str, path: str) -> None:
        """Materialise the artifact named ``name`` at ``path``."""

    @abc.abstractmethod
    def render(self, template: Any, name: str) -> Any:
        """Rewrite ``template`` so the Argo engine fetches the input ``name`` from here."""


__all__ = ["CustomArtifact", "HTTPArtifact", "LocalArtifact", "S3Artifact", "auto_prefix"]

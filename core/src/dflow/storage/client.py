"""The storage client interface (the seed's ``StorageClient``) and what a client can do."""

from __future__ import annotations

import abc
import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO, ClassVar

import attrs


@attrs.frozen
class StorageCapabilities:
    """What a :class:`StorageClient` does beyond the four required methods.

    Callers read these flags instead of probing a client for methods: the optional methods
    exist on every client (with defaults), the flags say whether they are more than the default.
    """

    direct_download: bool = False
    """``download_new`` writes straight to a path nobody reads yet (no temporary file and
    rename); callers then stage whole directories and rename them once."""
    local_files: bool = False
    """``local_path(key)`` is the file holding the object on this machine: readers may use it
    in place instead of downloading a copy."""


class StorageClient(abc.ABC):
    """An object store holding artifacts under string keys.

    Keys are ``/``-separated. ``upload``/``download`` move one object (a file); callers walk
    directories themselves. Implementations stream (never hold a large file in memory),
    retry transient errors and raise :class:`dflow.storage.StorageError` subclasses with the
    key and the store named in the message.

    The other methods have defaults; a client that does better says so in ``capabilities``.
    """

    capabilities: ClassVar[StorageCapabilities] = StorageCapabilities()
    """What this client does beyond the defaults (see :class:`StorageCapabilities`)."""

    @property
    def store(self) -> str:
        """The store as error messages name it (endpoint and bucket).

        Override it, or shadow it with a class attribute (``store: str = ""``) set in
        ``__init__``."""
        return type(self).__name__

    @abc.abstractmethod
    def upload(self, key: str, path: str) -> None:
        """Upload the local file ``path`` to ``key``."""

    @abc.abstractmethod
    def download(self, key: str, path: str) -> None:
        """Download ``key`` to the local file ``path`` (parent dirs are created)."""

    @abc.abstractmethod
    def list(self, prefix: str, recursive: bool = False) -> list[str]:
        """Keys under ``prefix``; without ``recursive``, one level (``a/`` for deeper keys)."""

    @abc.abstractmethod
    def copy(self, src: str, dst: str) -> None:
        """Server-side copy of one object."""

    def adopt(self, key: str, path: str) -> None:
        """Store ``path``, a file the caller made for this purpose, as ``key``.

        The caller gives the file up: a store on the same filesystem moves it in. The default
        uploads it.
        """
        self.upload(key, path)

    def download_new(self, key: str, path: str) -> None:
        """Download ``key`` to ``path``, a path no one reads until this returns.

        Without :attr:`StorageCapabilities.direct_download` this is :meth:`download`.
        """
        self.download(key, path)

    def local_path(self, key: str) -> str:
        """The local file holding ``key``; only for clients with
        :attr:`StorageCapabilities.local_files`."""
        raise NotImplementedError(
            f"{type(self).__name__} keeps objects remotely: download '{key}' instead of "
            "asking for its local path (capabilities.local_files is False)"
        )

    def get_md5(self, key: str) -> str:
        """Hex MD5 of the object's content (optional)."""
        raise NotImplementedError(f"{type(self).__name__} does not provide get_md5")

    @contextlib.contextmanager
    def open_read(self, key: str, spool_dir: str | None = None) -> Iterator[IO[bytes]]:
        """The object as a readable binary stream; errors (integrity included) raise on read.

        The default downloads into a temporary file in ``spool_dir`` and reads that; stores
        that can stream (ranged GETs, a local file) override it.
        """
        with tempfile.TemporaryDirectory(dir=spool_dir) as tmp:
            path = os.path.join(tmp, "object")
            self.download(key, path)
            with open(path, "rb") as f:
                yield f

    @contextlib.contextmanager
    def open_write(self, key: str, spool_dir: str | None = None) -> Iterator[IO[bytes]]:
        """A writable binary stream that becomes the object ``key`` when the block ends.

        If the block raises, nothing is stored. The default writes a temporary file in
        ``spool_dir`` and uploads it (or moves it in, for a store with ``adopt``); stores that
        can stream (multipart from memory) override it.
        """
        with tempfile.TemporaryDirectory(dir=spool_dir) as tmp:
            path = os.path.join(tmp, "object")
            with open(path, "wb") as f:
                yield f
            self.adopt(key, path)

"""A storage client on the local filesystem: keys are paths under a root directory.

Used by the local engine (its "artifact dir") and by tests. Writes are atomic (temporary file
beside the target, then rename), so a reader never sees a partial object as complete.

Snapshot choice: ``upload`` *copies* the source file. A hard link would share the inode with
the user's file, and a later in-place write to that file would silently change the stored
artifact. Inside the store objects are never modified in place (always replaced by rename), so
``copy`` between keys hard-links when it can, and :meth:`LocalStorageClient.adopt` moves in a
file the caller created for the purpose (a tarball, a catalog) without copying it.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import IO

import attrs

from .client import StorageCapabilities, StorageClient
from .errors import NotFound, StorageError
from .transfer import TMP_PREFIX, atomic_file, md5_file


@attrs.define
class LocalStorageConfig:
    """Configuration of the ``local`` storage: the directory holding the objects."""

    root: str = "."


class LocalStorageClient(StorageClient):
    """Objects stored as files under ``root`` (created on first write)."""

    capabilities = StorageCapabilities(local_files=True)
    store: str = ""  # set in __init__

    def __init__(self, root: str | os.PathLike[str] = ".") -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.store = f"local store {self.root}"

    @classmethod
    def from_config(cls, config: LocalStorageConfig | None) -> LocalStorageClient:
        return cls((config or LocalStorageConfig()).root)

    def __repr__(self) -> str:
        return f"LocalStorageClient({self.root!r})"

    def local_path(self, key: str) -> str:
        """The file (or directory, for a prefix) holding ``key``; it may not exist."""
        return self._path(key)

    def _path(self, key: str) -> str:
        if not isinstance(key, str) or not key.strip("/"):
            raise StorageError(
                f"invalid key {key!r}",
                key=str(key),
                store=self.store,
                hint="keys are non-empty '/'-separated strings",
            )
        parts = key.strip("/").split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise StorageError(
                f"invalid key {key!r}",
                key=key,
                store=self.store,
                hint="keys must not contain empty, '.' or '..' segments",
            )
        return os.path.join(self.root, *parts)

    def _missing(self, key: str) -> NotFound:
        return NotFound(f"no object '{key}' in {self.store}", key=key, store=self.store)

    def upload(self, key: str, path: str) -> None:
        dest = self._path(key)
        if not os.path.isfile(path):
            what = "is a directory, not a file" if os.path.isdir(path) else "does not exist"
            raise NotFound(
                f"cannot upload '{path}' to '{key}': the local path {what}",
                key=key,
                store=self.store,
                hint="pass the path of an existing file",
            )
        self._check_parent(key, dest)
        with atomic_file(dest) as tmp:
            shutil.copyfile(path, tmp)

    def adopt(self, key: str, path: str) -> None:
        """Move the caller's file ``path`` into the store as ``key`` (copy across devices)."""
        dest = self._path(key)
        self._check_parent(key, dest)
        with atomic_file(dest) as tmp:
            try:
                os.replace(path, tmp)
            except OSError:
                shutil.copyfile(path, tmp)
                os.unlink(path)

    def download(self, key: str, path: str) -> None:
        src = self._path(key)
        if not os.path.isfile(src):
            raise self._missing(key)
        with atomic_file(path) as tmp:
            shutil.copyfile(src, tmp)

    @contextlib.contextmanager
    def open_read(self, key: str, spool_dir: str | None = None) -> Iterator[IO[bytes]]:
        """The stored file itself, opened for reading (objects are replaced, never rewritten)."""
        src = self._path(key)
        try:
            f = open(src, "rb")  # closed by the with below
        except (FileNotFoundError, IsADirectoryError):
            raise self._missing(key) from None
        with f:
            yield f

    def copy(self, src: str, dst: str) -> None:
        source, dest = self._path(src), self._path(dst)
        if not os.path.isfile(source):
            raise self._missing(src)
        if source == dest:
            return
        self._check_parent(dst, dest)
        with atomic_file(dest) as tmp:
            try:
                os.link(source, tmp)
            except OSError:  # other filesystem, or links unsupported
                shutil.copyfile(source, tmp)

    def list(self, prefix: str, recursive: bool = False) -> list[str]:
        # S3 semantics: ``prefix`` is a string prefix, not a directory ("up" matches "upload/").
        head, _, stem = prefix.rpartition("/")
        base = os.path.join(self.root, *[p for p in head.split("/") if p]) if head else self.root
        if not os.path.isdir(base):
            return []
        lead = f"{head}/" if head else ""
        out: list[str] = []
        for entry in os.scandir(base):
            if not entry.name.startswith(stem) or entry.name.startswith(TMP_PREFIX):
                continue
            key = lead + entry.name
            if entry.is_dir():
                if recursive:
                    out.extend(self._walk(entry.path, key + "/"))
                else:
                    out.append(key + "/")
            else:
                out.append(key)
        return sorted(out)

    def _walk(self, directory: str, lead: str) -> builtins.list[str]:  # list: the method
        out: builtins.list[str] = []
        for dirpath, _dirnames, filenames in os.walk(directory):
            rel = os.path.relpath(dirpath, directory)
            sub = lead if rel == "." else lead + rel.replace(os.sep, "/") + "/"
            out.extend(sub + f for f in filenames if not f.startswith(TMP_PREFIX))
        return out

    def get_md5(self, key: str) -> str:
        src = self._path(key)
        if not os.path.isfile(src):
            raise self._missing(key)
        return md5_file(src)

    def _check_parent(self, key: str, dest: str) -> None:
        if os.path.isdir(dest):
            raise StorageError(
                f"cannot write object '{key}': a prefix '{key}/' already holds objects",
                key=key,
                store=self.store,
                hint="a local store cannot hold both 'k' and 'k/...'; choose another key",
            )
        parent = os.path.dirname(dest)
        while parent and parent != self.root and not os.path.isdir(parent):
            if os.path.isfile(parent):
                rel = os.path.relpath(parent, self.root).replace(os.sep, "/")
                raise StorageError(
                    f"cannot write object '{key}': '{rel}' is an object, not a prefix",
                    key=key,
                    store=self.store,
                    hint="a local store cannot hold both 'k' and 'k/...'; choose another key",
                )
            parent = os.path.dirname(parent)


__all__ = ["LocalStorageClient", "LocalStorageConfig"]

"""Key-level operations over any :class:`StorageClient`: trees of objects under a key.

``upload_s3``/``download_s3``/``copy_s3`` keep pydflow's names and signatures; the helpers
below them are shared with the artifact API (:mod:`dflow.storage.api`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from ..config import tempdir  # DFLOW_TEMPDIR
from .artifacts import auto_prefix, config_dicts
from .client import StorageClient
from .errors import NotFound, StorageError
from .paths import local_path_under
from .transfer import EMPTY_DIR_MARKER, atomic_file, run_concurrently, temp_name, walk_files


def resolve_client(storage_client: StorageClient | None = None) -> StorageClient:
    """``storage_client`` if given, else the configured one (``dflow.backends``)."""
    if storage_client is not None:
        return storage_client
    from dflow.backends import get_storage_client  # lazy: backends loads the plugin system

    return get_storage_client()


def store_name(client: StorageClient) -> str:
    return client.store or type(client).__name__  # an empty store: a client not set up yet


def catalog_dir() -> str:
    config, _ = config_dicts()
    return config.get("catalog_dir_name") or ".dflow"


def objects_under(client: StorageClient, key: str) -> tuple[list[str], bool]:
    """The object keys making up ``key``: ``(keys, is_tree)``.

    A tree is every object under ``key/``; otherwise ``key`` must be one object. Matching on
    ``key/`` (not the bare string prefix) keeps ``upload/a`` from picking up ``upload/ab``.
    """
    key = key.rstrip("/")
    tree = client.list(key + "/", recursive=True)
    if tree:
        return tree, True
    if key in client.list(key):
        return [key], False
    raise NotFound(
        f"nothing stored under key '{key}' in {store_name(client)}",
        key=key,
        store=store_name(client),
        hint="check the key; the artifact may have been deleted or never uploaded",
    )


def upload_tree(client: StorageClient, root: str, key: str, workers: int = 16) -> int:
    """Upload every file under ``root`` to ``key/<relpath>`` concurrently; return the count.

    Symlinks are followed (the stored objects are copies); empty dirs become ``.empty_dir``
    marker objects.
    """
    entries = walk_files(root)
    if not entries:
        entries = [("", EMPTY_DIR_MARKER)]
    with tempfile.TemporaryDirectory(dir=tempdir()) as tmp:
        marker = os.path.join(tmp, EMPTY_DIR_MARKER)
        open(marker, "wb").close()

        def one(entry: tuple[str, str]) -> None:
            client.upload(f"{key.rstrip('/')}/{entry[1]}", entry[0] or marker)

        run_concurrently(one, entries, workers)
    return len(entries)


def fetch_objects(
    client: StorageClient,
    pairs: list[tuple[str, str]],
    fetch: Callable[[str, str], None] | None = None,
    workers: int = 16,
) -> None:
    """Download ``(key, local path)`` pairs concurrently; ``.empty_dir`` markers become dirs.

    When the client's ``download_new(key, path)`` is direct (writes straight to a path nobody reads
    yet), files bound for directories that do not exist yet are written into a hidden staging
    directory that is renamed into place once all succeeded: one rename for the whole tree
    instead of a temporary file and a rename per file (each costs about as much CPU as the
    transfer of a 100 KiB object), and a failed download leaves nothing half-done behind.
    """
    direct = client.download_new if fetch is None else None
    fetch = fetch or client.download
    if direct is None or not client.capabilities.direct_download or len(pairs) < 2:

        def one(pair: tuple[str, str]) -> None:
            obj, dest = pair
            if os.path.basename(obj) == EMPTY_DIR_MARKER:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
            else:
                fetch(obj, dest)

        run_concurrently(one, pairs, workers)
        return
    with staged(pairs) as jobs:
        for parent in sorted({os.path.dirname(dest) for _, dest, _ in jobs}):
            os.makedirs(parent, exist_ok=True)  # once per directory, before the pool starts

        def staged_one(job: tuple[str, str, bool]) -> None:
            obj, dest, fresh = job
            if os.path.basename(obj) != EMPTY_DIR_MARKER:
                (direct if fresh else fetch)(obj, dest)

        run_concurrently(staged_one, jobs, workers)


@contextlib.contextmanager
def staged(pairs: list[tuple[str, str]]) -> Iterator[list[tuple[str, str, bool]]]:
    """Redirect destinations under not-yet-existing directories into staging directories.

    Yields ``(key, path, fresh)``: ``fresh`` paths are inside a private staging directory.
    On success each staging directory is renamed to its final name (merged file by file if
    that name appeared meanwhile); on error the staging directories are removed.
    """
    dests = [os.path.abspath(dest) for _, dest in pairs]
    root = os.path.commonpath([os.path.dirname(d) for d in dests])
    while not os.path.isdir(root) and os.path.dirname(root) != root:
        root = os.path.dirname(root)  # the deepest directory that exists
    stages: dict[str, str | None] = {}
    jobs = []
    for (obj, dest), full in zip(pairs, dests, strict=True):
        first, sep, rest = os.path.relpath(full, root).partition(os.sep)
        if sep and first not in stages:
            top = os.path.join(root, first)
            stages[first] = None if os.path.lexists(top) else temp_name(top)
        stage = stages.get(first) if sep else None
        jobs.append((obj, os.path.join(stage, rest), True) if stage else (obj, dest, False))
    try:
        yield jobs
    except BaseException:
        for stage in stages.values():
            if stage:
                shutil.rmtree(stage, ignore_errors=True)
        raise
    for first, stage in stages.items():
        if stage:
            _move_into_place(stage, os.path.join(root, first))


def _move_into_place(stage: str, final: str) -> None:
    try:
        os.rename(stage, final)
        return
    except OSError:
        if not os.path.isdir(final):
            raise
    for dirpath, _, filenames in os.walk(stage):  # someone created ``final`` meanwhile
        target = os.path.join(final, os.path.relpath(dirpath, stage))
        os.makedirs(target, exist_ok=True)
        for name in filenames:
            os.replace(os.path.join(dirpath, name), os.path.join(target, name))
    shutil.rmtree(stage, ignore_errors=True)


def upload_s3(
    path: str,
    key: str | None = None,
    prefix: str | None = None,
    debug_func: Any = None,
    storage_client: StorageClient | None = None,
    **kwargs: Any,
) -> str:
    """Upload a file (to ``key``) or a directory (to ``key/...``); return the key.

    Without ``key`` it is ``<prefix or 'upload/<uuid4>/'><basename>``. ``debug_func`` is
    accepted for pydflow compatibility and ignored: the local store is a storage client.
    """
    client = resolve_client(storage_client)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise NotFound(f"cannot upload '{path}': no such file or directory", key=key)
    if key is None:
        base = prefix if prefix is not None else f"upload/{uuid.uuid4()}/"
        base = base if base.endswith("/") else base + "/"  # pydflow: prefix "data" -> "data/"
        key = base + os.path.basename(os.path.abspath(path))
    key = auto_prefix(key)
    if os.path.isdir(path):
        upload_tree(client, path, key)
    else:
        client.upload(key, path)
    return key


def download_s3(
    key: str,
    path: str = ".",
    recursive: bool = True,
    skip_exists: bool = False,
    keep_dir: bool = False,
    storage_client: StorageClient | None = None,
    **kwargs: Any,
) -> str:
    """Download the object ``key`` (to ``path/<basename>``) or the tree ``key/...`` (to
    ``path/...``, or ``path/<basename>/...`` with ``keep_dir``). ``skip_exists`` leaves local
    files whose MD5 matches the stored object's. Returns ``path`` (the file's path when not
    ``recursive``), as pydflow does."""
    client = resolve_client(storage_client)
    key = key.rstrip("/")
    if not recursive:
        dest = local_path_under(path, os.path.basename(key), f"object key '{key}'")
        fetch_objects(client, [(key, dest)])
        return dest
    objs, is_tree = objects_under(client, key)
    if is_tree:
        base = (
            local_path_under(path, os.path.basename(key), f"object key '{key}'")
            if keep_dir
            else path
        )
        pairs = [(o, local_path_under(base, o[len(key) + 1 :], f"object key '{o}'")) for o in objs]
    else:
        pairs = [(key, local_path_under(path, os.path.basename(key), f"object key '{key}'"))]
    if skip_exists:
        pairs = [(o, d) for o, d in pairs if not _same_md5(client, o, d)]
    fetch_objects(client, pairs)
    return path


def _same_md5(client: StorageClient, key: str, local: str) -> bool:
    if not os.path.isfile(local):
        return False
    import hashlib

    digest = hashlib.md5()
    with open(local, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    try:
        return client.get_md5(key) == digest.hexdigest()
    except StorageError:
        return False  # no MD5 to compare with: download again


def copy_s3(
    src_key: str,
    dst_key: str,
    recursive: bool = True,
    ignore_catalog: bool = False,
    storage_client: StorageClient | None = None,
    **kwargs: Any,
) -> str:
    """Server-side copy of the object or tree ``src_key`` to ``dst_key``; return ``dst_key``.

    ``ignore_catalog`` skips the tree's catalog files (the caller writes merged ones)."""
    client = resolve_client(storage_client)
    src_key, dst_key = src_key.rstrip("/"), auto_prefix(dst_key.rstrip("/"))
    objs, is_tree = objects_under(client, src_key) if recursive else ([src_key], False)
    if not is_tree:
        client.copy(src_key, dst_key)
        return dst_key
    cat = catalog_dir() + "/"
    pairs = []
    for obj in objs:
        rel = obj[len(src_key) + 1 :]
        if ignore_catalog and rel.startswith(cat):
            continue
        pairs.append((obj, f"{dst_key}/{rel}"))
    run_concurrently(lambda p: client.copy(*p), pairs, 16)
    return dst_key


def download_text(client: StorageClient, key: str) -> str:
    """A small object's content as text (catalogs)."""
    with tempfile.TemporaryDirectory(dir=tempdir()) as tmp:
        dest = os.path.join(tmp, "obj")
        client.download(key, dest)
        with open(dest, encoding="utf-8") as f:
            return f.read()


def upload_text(client: StorageClient, key: str, text: str) -> None:
    with tempfile.TemporaryDirectory(dir=tempdir()) as tmp:
        dest = os.path.join(tmp, "obj")
        with atomic_file(dest) as t, open(t, "w", encoding="utf-8") as f:
            f.write(text)
        client.adopt(key, dest)


__all__ = ["copy_s3", "download_s3", "upload_s3"]

"""Transfer machinery shared by storage clients and the artifact API.

- :func:`retrying`: call a function again on transient errors, with exponential backoff.
- :func:`md5_file` / :class:`HashingReader`: MD5 of a stream without holding it in memory.
- :func:`atomic_file`: write a local file under a temporary name and rename it into place, so
  no reader ever sees a half-written file as complete.
- :func:`walk_files` / :func:`run_concurrently`: many small files moved by a thread pool.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import IO, Any, TypeVar

from .errors import StorageError, Unreachable

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: read size for hashing and copying: large enough to be fast, small enough to stay off the heap
CHUNK = 1024 * 1024

#: marker file standing for an empty directory (object stores have no directories)
EMPTY_DIR_MARKER = ".empty_dir"

#: prefix of temporary files; listings of local stores skip them
TMP_PREFIX = ".~dflow-"

DEFAULT_WORKERS = 16


def is_transient_default(exc: BaseException) -> bool:
    """Network hiccups are transient; a storage verdict (missing key, denied) is not."""
    if isinstance(exc, Unreachable):
        return True
    if isinstance(exc, StorageError):
        return False
    return isinstance(exc, ConnectionError | TimeoutError)


def retrying(
    fn: Callable[[], T],
    *,
    what: str,
    attempts: int = 4,
    base_delay: float = 0.2,
    max_delay: float = 5.0,
    is_transient: Callable[[BaseException], bool] = is_transient_default,
) -> T:
    """Call ``fn()``; on a transient error retry up to ``attempts`` times in all, backing off.

    Delays grow as ``base_delay * 2**n`` (with jitter, capped at ``max_delay``). The last error
    propagates unchanged, so callers keep their precise exception type. ``what`` names the
    operation in log messages ("upload of 'a/b' to bucket 'x'").
    """
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt >= attempts or not is_transient(exc):
                raise
            delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            log.warning(
                "%s failed (%s); retry %d/%d in %.2fs", what, exc, attempt, attempts - 1, delay
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def md5_file(path: str | os.PathLike[str]) -> str:
    """Hex MD5 of a local file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class HashingReader:
    """A read-only file wrapper that hashes what passes through it (for streamed uploads)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._md5 = hashlib.md5(usedforsecurity=False)

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._md5.update(data)
        return data

    def hexdigest(self) -> str:
        return self._md5.hexdigest()


def copy_stream(src: IO[bytes], dst: IO[bytes]) -> str:
    """Copy ``src`` to ``dst`` in chunks; return the hex MD5 of the bytes copied."""
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := src.read(CHUNK):
        digest.update(chunk)
        dst.write(chunk)
    return digest.hexdigest()


def temp_name(path: str | os.PathLike[str]) -> str:
    """A unique temporary name beside ``path`` (same directory, so rename is atomic)."""
    head, tail = os.path.split(os.fspath(path))
    return os.path.join(head, f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{tail}"[:255])


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    On error the temporary file is removed and ``path`` is left as it was. Parent directories
    are created.
    """
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def walk_files(root: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(absolute path, relative path)`` of every file under ``root``, following symlinks.

    An empty directory yields ``("", "<dir>/.empty_dir")``: an empty absolute path telling the
    caller to store an empty marker object for it. Relative paths use ``/``.
    """
    root = os.fspath(root)
    out: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        prefix = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        for name in sorted(filenames):
            out.append((os.path.join(dirpath, name), prefix + name))
        if not dirnames and not filenames and prefix:
            out.append(("", prefix + EMPTY_DIR_MARKER))
    return out


def run_concurrently(
    fn: Callable[[T], R], items: Sequence[T] | Iterable[T], workers: int = DEFAULT_WORKERS
) -> list[R]:
    """``[fn(x) for x in items]`` on a thread pool; the first failure is raised, others cancelled.

    Object-store calls spend their time waiting on the network, so threads give the
    parallelism (boto3 and the other SDKs release the GIL on I/O).
    """
    items = list(items)
    if len(items) <= 1 or workers <= 1:
        return [fn(x) for x in items]
    results: list[Any] = [None] * len(items)
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = {pool.submit(fn, x): i for i, x in enumerate(items)}
        try:
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return results


__all__ = [
    "CHUNK",
    "EMPTY_DIR_MARKER",
    "HashingReader",
    "TMP_PREFIX",
    "atomic_file",
    "copy_stream",
    "is_transient_default",
    "md5_file",
    "retrying",
    "run_concurrently",
    "temp_name",
    "walk_files",
]

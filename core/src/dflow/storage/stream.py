"""Reading an object as a stream: parallel ranged GETs served in order.

:class:`RangedReader` is what a storage plugin returns from ``open_read`` when its store
answers ranged GETs: it keeps a few ranges in flight on a thread pool (so a single stream
moves as fast as a parallel download), hands the bytes out in order, holds at most
``ahead + 1`` ranges in memory, and checks the object's integrity when the last byte is read,
raising before the reader sees a clean end of file. :func:`ranged_stream` serves one as a
buffered stream whose errors are the store's own, translated to dflow's storage errors.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO


class RangedReader(io.RawIOBase):
    """A read-only stream of ``size`` bytes fetched as ``fetch(start, end)`` (end exclusive).

    ``verify(part_md5s, md5_hex)`` is called once all bytes were read, with the MD5 digest of
    each range (ranges are ``part`` bytes, the last one shorter) and of the whole; it raises
    when they do not match what the store promised.
    """

    def __init__(
        self,
        fetch: Callable[[int, int], bytes],
        size: int,
        *,
        part: int = 16 * 1024 * 1024,
        ahead: int = 4,
        verify: Callable[[list[bytes], str], None] | None = None,
    ) -> None:
        super().__init__()
        self._fetch, self._size, self._part = fetch, size, max(1, part)
        self._verify = verify
        self._ranges = iter(range(0, size, self._part))
        self._pool = ThreadPoolExecutor(max(1, ahead), thread_name_prefix="dflow-range")
        self._queue: collections.deque[Future[bytes]] = collections.deque()
        self._ahead = max(1, ahead)
        self._buffer = memoryview(b"")
        self._parts: list[bytes] = []
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._served = 0
        self._fill()

    def _fill(self) -> None:
        while len(self._queue) < self._ahead:
            start = next(self._ranges, None)
            if start is None:
                return
            end = min(start + self._part, self._size)
            self._queue.append(self._pool.submit(self._checked_fetch, start, end))

    def _checked_fetch(self, start: int, end: int) -> bytes:
        data = self._fetch(start, end)
        if len(data) != end - start:
            raise OSError(f"ranged read of bytes {start}-{end - 1}: got {len(data)} bytes")
        return data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._buffer:
            if not self._queue:
                if self._size == 0 and not self._parts and self._verify is not None:
                    self._parts.append(self._md5.digest())  # verified once, as empty
                    self._verify([], self._md5.hexdigest())
                return 0
            data = self._queue.popleft().result()
            self._fill()
            self._parts.append(hashlib.md5(data, usedforsecurity=False).digest())
            self._md5.update(data)
            self._served += len(data)
            if self._served == self._size and self._verify is not None:
                self._verify(self._parts, self._md5.hexdigest())
            self._buffer = memoryview(data)
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            for future in self._queue:
                future.cancel()
            self._pool.shutdown(wait=True, cancel_futures=True)
        super().close()


class _Translated(io.RawIOBase):
    """``raw``'s bytes; what reading raises is raised as ``translate`` maps it."""

    def __init__(self, raw: io.RawIOBase, translate: Callable[[Exception], BaseException]) -> None:
        super().__init__()
        self._raw, self._translate = raw, translate

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return self._raw.readinto(buffer)
        except Exception as exc:
            error = self._translate(exc)
            if error is exc:
                raise
            raise error from exc

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


@contextlib.contextmanager
def ranged_stream(
    fetch: Callable[[int, int], bytes],
    size: int,
    *,
    part: int,
    ahead: int,
    verify: Callable[[list[bytes], str], None] | None = None,
    translate: Callable[[Exception], BaseException] | None = None,
    buffer_size: int = io.DEFAULT_BUFFER_SIZE,
) -> Iterator[IO[bytes]]:
    """A :class:`RangedReader` as a buffered binary stream, closed when the block ends.

    What a read raises (a fetch, a short range, ``verify``) goes through ``translate``: the
    store's exception to dflow's :class:`~dflow.storage.StorageError` (an exception it returns
    unchanged is raised as it is). Every store's ``open_read`` reports errors the same way.
    """
    raw: io.RawIOBase = RangedReader(fetch, size, part=part, ahead=ahead, verify=verify)
    if translate is not None:
        raw = _Translated(raw, translate)
    with io.BufferedReader(raw, buffer_size) as stream:
        yield stream


def multipart_etag(part_md5s: list[bytes]) -> str:
    """The S3-style ETag of an object uploaded in these parts: ``md5(concat(md5s))-count``."""
    return f"{hashlib.md5(b''.join(part_md5s), usedforsecurity=False).hexdigest()}-{len(part_md5s)}"


__all__ = ["RangedReader", "multipart_etag", "ranged_stream"]

"""``open_write`` for stores that take an object in parts: the part the storage plugins share.

:class:`PartedWriter` is a write-only stream that cuts what it is given into parts and sends
each on a thread pool while the caller keeps writing (at most ``workers`` parts in memory;
beyond that ``write`` waits). An object that stays below ``threshold`` goes in one request
instead. The first failure of any part is raised by the next ``write`` or by ``finish``, and
:func:`finish_or_abort` aborts the upload then, so no partial object or open upload is left.
A store subclasses it with the five requests of its API (start, send a part, complete, put
in one request, abort) and, optionally, a running checksum and its error translation.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from .errors import StorageError


class _Finishable(Protocol):
    def finish(self) -> None: ...

    def abort(self) -> None: ...


W = TypeVar("W", bound=_Finishable)


@contextlib.contextmanager
def finish_or_abort(writer: W) -> Iterator[W]:
    """Yield ``writer``; ``finish()`` it when the block ends, ``abort()`` it if anything
    raises (the block or ``finish`` itself), then re-raise."""
    try:
        yield writer
        writer.finish()
    except BaseException:
        writer.abort()
        raise


class PartedWriter(io.RawIOBase):
    """A write-only stream that becomes object ``key`` of ``store`` on :meth:`finish`."""

    #: part numbers run from 1 to this (S3's and OSS's limit)
    MAX_PARTS = 10_000
    #: the part size doubles every this many parts, up to ``MAX_PART_SIZE``, so a stream of
    #: unknown length is not capped at ``MAX_PARTS`` x the configured part size
    GROW_EVERY = 1000
    MAX_PART_SIZE = 5 * 1024**3
    #: what to change when ``MAX_PARTS`` parts are not enough
    PART_SIZE_HINT = "raise the part size in the store's configuration"

    def __init__(
        self,
        key: str,
        store: str,
        *,
        part_size: int,
        threshold: int,
        workers: int,
        thread_name: str,
    ) -> None:
        super().__init__()
        self.key, self.store = key, store
        self._part_size = part_size
        self._threshold = max(threshold, part_size)
        self._workers = max(1, workers)
        self._thread_name = thread_name
        self._chunks: list[bytes] = []  # the writes that make up the part being filled
        self._pending = 0  # bytes in _chunks
        self._held: list[bytes] = []  # parts kept until the object is known to need parts
        self._held_size = 0
        self._written = 0
        self._pool: ThreadPoolExecutor | None = None  # set once the multipart upload started
        self._parts: list[Future[Any]] = []
        self._slots = threading.BoundedSemaphore(self._workers)
        self._error: BaseException | None = None  # the first part that failed
        self._finished = False

    # -- what a store provides ------------------------------------------------------------
    def _observe(self, data: bytes) -> None:
        """Called with every write, in order (for a running checksum)."""

    def _begin(self) -> None:
        """Start the multipart upload."""
        raise NotImplementedError

    def _send_part(self, number: int, part: bytes) -> Any:
        """Send part ``number`` (on a pool thread) and return what :meth:`_complete` needs."""
        raise NotImplementedError

    def _complete(self, results: list[Any]) -> None:
        """Make the object from the parts' results, in order, and check it."""
        raise NotImplementedError

    def _put_whole(self, chunks: list[bytes]) -> None:
        """Store the object (``chunks`` joined) in one request."""
        raise NotImplementedError

    def _abort_upload(self) -> None:
        """Drop the multipart upload and its parts (errors are ignored)."""
        raise NotImplementedError

    def _translate(self, exc: BaseException) -> BaseException:
        """The error a user should see for ``exc``."""
        return exc

    # -- the stream -----------------------------------------------------------------------
    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data: Any) -> int:
        self._raise_failed()
        if not isinstance(data, bytes):
            data = bytes(data)  # the caller may reuse its buffer: a held part must not change
        n = len(data)
        self._observe(data)
        self._written += n
        pos = 0
        while pos < n:
            take = min(n - pos, self._part_size - self._pending)
            self._chunks.append(data if take == n else data[pos : pos + take])
            self._pending += take
            pos += take
            if self._pending >= self._part_size:
                self._add_part(self._take())
        return n

    def _take(self) -> bytes:
        chunks, self._chunks, self._pending = self._chunks, [], 0
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _add_part(self, part: bytes) -> None:
        if self._pool is not None:
            self._submit(part)
            return
        self._held.append(part)
        self._held_size += len(part)
        if self._held_size >= self._threshold:
            self._call(self._begin)
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix=self._thread_name)
            held, self._held, self._held_size = self._held, [], 0
            for p in held:
                self._submit(p)

    def _submit(self, part: bytes) -> None:
        assert self._pool is not None
        number = len(self._parts) + 1
        if number > self.MAX_PARTS:
            raise StorageError(
                f"upload of '{self.key}' to {self.store}: more than "
                f"{self.MAX_PARTS} parts (the store's limit)",
                key=self.key,
                store=self.store,
                hint=self.PART_SIZE_HINT,
            )
        self._slots.acquire()  # blocks the writer while `workers` parts are in flight
        try:
            self._raise_failed()  # a part may have failed while the writer waited
            self._parts.append(self._pool.submit(self._send, number, part))
        except BaseException:
            self._slots.release()
            raise
        if number % self.GROW_EVERY == 0:
            self._part_size = min(2 * self._part_size, self.MAX_PART_SIZE)

    def _send(self, number: int, part: bytes) -> Any:
        try:
            return self._send_part(number, part)
        except BaseException as exc:
            self._error = self._error or exc
            raise
        finally:
            self._slots.release()

    def _raise(self, exc: BaseException) -> None:
        error = self._translate(exc)
        if error is exc:
            raise exc
        raise error from exc

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except Exception as exc:
            self._raise(exc)

    def _raise_failed(self) -> None:
        if self._error is not None:
            self._raise(self._error)
        if self._finished:
            raise ValueError(f"the upload of '{self.key}' is already finished")

    def finish(self) -> None:
        """Send what is left and make the object; raise if anything failed (the caller then
        calls :meth:`abort`, as :func:`finish_or_abort` does)."""
        self._raise_failed()
        if self._pool is None:
            chunks = [*self._held, self._take()]  # whole parts and one last piece: few sends
            self._held = []
            self._call(lambda: self._put_whole(chunks))
        else:
            if self._pending:
                self._submit(self._take())
            wait(self._parts, return_when=FIRST_EXCEPTION)
            self._raise_failed()
            results = [f.result() for f in self._parts]
            self._shutdown()
            self._call(lambda: self._complete(results))
        self._finished = True
        self.close()

    def abort(self) -> None:
        """Drop everything: queued parts are cancelled, those being sent awaited, and the
        multipart upload aborted."""
        self._held, self._chunks, self._pending = [], [], 0
        started = self._pool is not None or bool(self._parts)
        self._shutdown()
        if started and not self._finished:
            with contextlib.suppress(Exception):  # the first error is the one to report
                self._abort_upload()
        self._finished = True
        self.close()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


__all__ = ["PartedWriter", "finish_or_abort"]

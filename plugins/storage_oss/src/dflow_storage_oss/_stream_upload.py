"""Upload an object from a stream of writes, without a local file: multipart from memory.

:meth:`OSSClient.open_write` hands out a :class:`StreamWriter`. Writes are cut into parts of
``part_size``; each part is sent on a thread pool while the caller keeps writing, its CRC-64
checked against the one OSS reports (see :mod:`._multipart`); at most ``workers`` parts are in
flight, beyond that the writer waits. An object smaller than ``multipart_threshold`` goes in
one PUT instead (Content-MD5, CRC-64 checked). The CRC-64 of everything written is kept as it
is written and compared with the completed object's. On any failure, or if the caller's block
raises, the multipart upload is aborted: no partial object, no dangling upload.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from dflow.storage.errors import StorageError

from . import _crc
from ._errors import translate
from ._multipart import MAX_PART_SIZE, MAX_PARTS, MultipartUpload

if TYPE_CHECKING:
    from .client import OSSClient

#: the part size doubles every this many parts, so a stream of unknown length is not capped
#: at OSS's 10,000 parts x ``part_size``
GROW_EVERY = 1000


class StreamWriter(io.RawIOBase):
    """A write-only stream that becomes object ``full`` (dflow key ``key``) on :meth:`finish`."""

    def __init__(self, client: OSSClient, key: str, full: str) -> None:
        super().__init__()
        c = client.config
        self._client, self._key, self._full = client, key, full
        self._part_size = c.part_size
        self._threshold = max(c.multipart_threshold, self._part_size)
        self._workers = max(1, c.workers)
        self._chunks: list[bytes] = []  # the writes that make up the part being filled
        self._pending = 0  # bytes in _chunks
        self._held: list[bytes] = []  # parts kept until the object is known to need multipart
        self._held_size = 0
        self._written = 0
        self._crc = 0  # CRC-64 of everything written
        self._upload: MultipartUpload | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._parts: list[Future[Any]] = []
        self._slots = threading.BoundedSemaphore(self._workers)
        self._error: BaseException | None = None  # the first part that failed
        self._finished = False

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data: Any) -> int:  # type: ignore[override]
        self._raise_failed()
        if not isinstance(data, bytes):
            data = bytes(data)  # the caller may reuse its buffer: a held part must not change
        n = len(data)
        self._crc = _crc.crc64(data, self._crc)
        self._written += n
        pos = 0
        while pos < n:
            take = min(n - pos, self._part_size - self._pending)
            self._chunks.append(data if take == n else data[pos:pos + take])
            self._pending += take
            pos += take
            if self._pending >= self._part_size:
                self._add_part(self._take())
        return n

    def _take(self) -> bytes:
        chunks, self._chunks, self._pending = self._chunks, [], 0
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _add_part(self, part: bytes) -> None:
        if self._upload is not None:
            self._submit(part)
            return
        self._held.append(part)
        self._held_size += len(part)
        if self._held_size >= self._threshold:
            self._upload = MultipartUpload(self._client, self._key, self._full)
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="dflow-oss-part")
            held, self._held, self._held_size = self._held, [], 0
            for p in held:
                self._submit(p)

    def _submit(self, part: bytes) -> None:
        assert self._pool is not None
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise StorageError(
                f"upload of '{self._key}' to {self._client.store}: more than {MAX_PARTS} parts "
                f"(OSS's limit)", key=self._key, store=self._client.store,
                hint="raise part_size in the [storage.oss] section")
        self._slots.acquire()  # blocks the writer while `workers` parts are in flight
        try:
            self._raise_failed()  # a part may have failed while the writer waited
            self._parts.append(self._pool.submit(self._send, number, part))
        except BaseException:
            self._slots.release()
            raise
        if number % GROW_EVERY == 0:
            self._part_size = min(2 * self._part_size, MAX_PART_SIZE)

    def _send(self, number: int, part: bytes) -> Any:
        assert self._upload is not None
        try:
            return self._upload.send(number, part)
        except BaseException as exc:
            self._error = self._error or exc
            raise
        finally:
            self._slots.release()

    def _raise_failed(self) -> None:
        if self._error is not None:
            error = translate(self._error, op="upload", key=self._key, client=self._client)
            if error is self._error:
                raise error
            raise error from self._error
        if self._finished:
            raise ValueError(f"the upload of '{self._key}' is already finished")

    def finish(self) -> None:
        """Send what is left and make the object; raise if anything failed (the caller then
        calls :meth:`abort`)."""
        self._raise_failed()
        c = self._client
        if self._upload is None:
            chunks = [*self._held, self._take()]  # whole parts and one last piece: few sends
            self._held = []
            c._call("upload", self._key, lambda: c._put_bytes(self._full, chunks))
        else:
            if self._pending:
                self._submit(self._take())
            wait(self._parts, return_when=FIRST_EXCEPTION)
            self._raise_failed()
            parts = [f.result() for f in self._parts]
            self._shutdown()
            try:
                self._upload.complete(parts, self._crc)
            except Exception as exc:
                error = translate(exc, op="upload", key=self._key, client=c)
                if error is exc:
                    raise
                raise error from exc
        self._finished = True
        self.close()

    def abort(self) -> None:
        """Drop everything: queued parts are cancelled, those being sent awaited, and the
        multipart upload aborted."""
        self._held, self._chunks, self._pending = [], [], 0
        self._shutdown()
        if self._upload is not None:
            self._upload.abort()
        self._finished = True
        self.close()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


__all__ = ["GROW_EVERY", "StreamWriter"]

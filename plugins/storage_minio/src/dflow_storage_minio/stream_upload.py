"""Upload an object from a stream of writes, without a local file: multipart from memory.

:meth:`MinioClient.open_write` hands out a :class:`MultipartWriter`. Writes are cut into parts
of ``multipart_chunksize``; each part is hashed and sent with ``Content-MD5`` on a thread pool
while the caller keeps writing (at most ``max_concurrency`` parts are held in memory). An
object smaller than ``multipart_threshold`` goes in one PUT instead. On success the
composite ETag (``md5(part md5s)-N``) is checked; on any failure, or if the caller's block
raises, the multipart upload is aborted, so no partial object is left behind.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from dflow.storage.errors import IntegrityError
from dflow.storage.stream import multipart_etag

from .errors import translate

if TYPE_CHECKING:
    from .client import MinioClient

#: S3 allows 10,000 parts; the part size doubles every this many parts, so a stream of
#: unknown length is not capped at 10,000 x multipart_chunksize
GROW_EVERY = 1000


class MultipartWriter(io.RawIOBase):
    """A write-only stream that becomes the object ``key`` when :meth:`finish` is called."""

    def __init__(self, client: MinioClient, key: str) -> None:
        super().__init__()
        c = client.config
        self._client, self._key = client, key
        self._part_size = c.multipart_chunksize
        self._threshold = max(c.multipart_threshold, self._part_size)
        self._buf = bytearray()
        self._held: list[bytes] = []  # parts kept until the object is known to need multipart
        self._held_size = 0
        self._upload_id: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._parts: list[Future[tuple[bytes, str]]] = []
        self._slots = threading.BoundedSemaphore(max(1, c.max_concurrency))
        self._error: BaseException | None = None
        self._finished = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        self._raise_failed()
        n = len(data)
        self._buf += data
        while len(self._buf) >= self._part_size:
            part = bytes(self._buf[:self._part_size])
            del self._buf[:self._part_size]
            self._add_part(part)
        return n

    def _add_part(self, part: bytes) -> None:
        if self._upload_id is not None:
            self._submit(part)
            return
        self._held.append(part)
        self._held_size += len(part)
        if self._held_size >= self._threshold:
            self._start()
            held, self._held = self._held, []
            for p in held:
                self._submit(p)

    def _start(self) -> None:
        c = self._client
        resp = self._s3_call(lambda: c.s3.create_multipart_upload(Bucket=c.bucket, Key=self._key))
        self._upload_id = resp["UploadId"]
        self._pool = ThreadPoolExecutor(max(1, c.config.max_concurrency),
                                        thread_name_prefix="dflow-s3-part")

    def _submit(self, part: bytes) -> None:
        assert self._pool is not None
        self._slots.acquire()  # blocks the writer while max_concurrency parts are in flight
        number = len(self._parts) + 1
        if number % GROW_EVERY == 0:
            self._part_size *= 2
        try:
            self._parts.append(self._pool.submit(self._send, number, part))
        except BaseException:
            self._slots.release()
            raise

    def _send(self, number: int, part: bytes) -> tuple[bytes, str]:
        c = self._client
        try:
            md5 = hashlib.md5(part, usedforsecurity=False).digest()
            resp = c.s3.upload_part(
                Bucket=c.bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number,
                Body=part, ContentMD5=base64.b64encode(md5).decode(),
            )
            etag = resp["ETag"].strip('"')
            if c.config.verify_integrity and etag != md5.hex():
                raise IntegrityError(
                    f"upload of '{self._key}': part {number} came back with ETag {etag}, "
                    f"not its MD5 {md5.hex()}", key=self._key, store=c.store)
            return md5, etag
        except BaseException as exc:
            self._error = self._error or exc
            raise
        finally:
            self._slots.release()

    def _raise_failed(self) -> None:
        if self._error is not None:
            raise self._translate(self._error) from self._error
        if self._finished:
            raise ValueError(f"the upload of '{self._key}' is already finished")

    def _translate(self, exc: BaseException) -> BaseException:
        return exc if isinstance(exc, IntegrityError) else \
            translate(exc, self._client, self._key, "upload")

    def _s3_call(self, fn: Any) -> Any:
        try:
            return fn()
        except Exception as exc:
            raise self._translate(exc) from exc

    def finish(self) -> None:
        """Send what is left and make the object; raise (after aborting) if anything failed."""
        self._raise_failed()
        c = self._client
        if self._upload_id is None:
            data = b"".join([*self._held, bytes(self._buf)])
            self._held, self._buf = [], bytearray()
            self._s3_call(lambda: c.put_data(self._key, data))
            self._finished = True
            return
        if self._buf or not self._parts:
            self._submit(bytes(self._buf))
            self._buf = bytearray()
        try:
            sent = [f.result() for f in self._parts]
        except BaseException as exc:
            raise self._translate(exc) from exc
        resp = self._s3_call(lambda: c.s3.complete_multipart_upload(
            Bucket=c.bucket, Key=self._key, UploadId=self._upload_id,
            MultipartUpload={"Parts": [{"PartNumber": i, "ETag": etag}
                                       for i, (_, etag) in enumerate(sent, 1)]},
        ))
        self._finished = True
        self._shutdown()
        expected = multipart_etag([md5 for md5, _ in sent])
        etag = resp.get("ETag", "").strip('"')
        if c.config.verify_integrity and etag and etag != expected:
            self._s3_call(lambda: c.s3.delete_object(Bucket=c.bucket, Key=self._key))
            raise IntegrityError(f"upload of '{self._key}': server ETag {etag} does not match "
                                 f"the parts sent ({expected}); the object was removed",
                                 key=self._key, store=c.store)

    def abort(self) -> None:
        """Drop everything: pending parts are cancelled and the multipart upload aborted."""
        self._error = self._error or RuntimeError("aborted")
        self._held, self._buf = [], bytearray()
        self._shutdown()
        if self._upload_id is not None and not self._finished:
            c = self._client
            try:
                c.s3.abort_multipart_upload(Bucket=c.bucket, Key=self._key,
                                            UploadId=self._upload_id)
            except Exception:  # the original error matters more; the store expires uploads
                pass
        self._finished = True

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


__all__ = ["MultipartWriter"]

"""Upload an object from a stream of writes, without a local file: a resumable upload from memory.

:meth:`GCSClient.open_write` hands out a :class:`StreamWriter`. Writes are collected into chunks
of ``part_size``; as soon as a chunk is full (and the object has reached
``resumable_threshold``) it is sent to a resumable upload session from inside the ``write``
that filled it, so at most about one chunk (or ``resumable_threshold``, if larger) is held in
memory. An object that ends below ``resumable_threshold`` goes in one request instead.

Integrity: a CRC32C of every byte written is computed as the caller writes. It is declared to
GCS (in the metadata of a one-request upload, in ``x-goog-hash`` on the last request of a
resumable one), so GCS can refuse a mismatch itself, and compared with the crc32c of the
finished object; on a mismatch the object is deleted and :class:`IntegrityError` raised. If the
caller's block raises, or a request fails, the session is cancelled: no object appears.
"""

from __future__ import annotations

import base64
import inspect
import io
from typing import TYPE_CHECKING, Any

import google_crc32c
from dflow.storage.errors import IntegrityError, StorageError

from ._download import parse_hashes
from ._errors import translate

if TYPE_CHECKING:
    from .client import GCSClient

#: seconds a cancellation may take; it is best effort (GCS expires sessions after a week)
CANCEL_TIMEOUT = 10.0


class _ChunkSource:
    """The stream the SDK's ``ResumableUpload`` reads: the one chunk being sent.

    ``read`` hands out the chunk itself (no copy) and offsets are those of the whole object,
    as the SDK expects; ``seek`` (used by the SDK's ``recover``) works within the chunk.
    """

    def __init__(self) -> None:
        self._piece, self._start, self._pos = b"", 0, 0

    def put(self, piece: bytes) -> None:
        self._piece, self._start = piece, self._pos

    def release(self) -> None:
        """Drop the chunk once sent, so it is not held while the next one fills."""
        self._piece, self._start = b"", self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        off, n = self._pos - self._start, len(self._piece)
        end = n if size is None or size < 0 else min(n, off + size)
        out = self._piece if off == 0 and end == n else self._piece[off:end]
        self._pos = self._start + end
        return out

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or not self._start <= pos <= self._start + len(self._piece):
            raise ValueError(f"cannot seek to byte {pos}: only the chunk being sent is held")
        self._pos = pos
        return pos


class _DeclareHash:
    """A transport adding ``x-goog-hash`` to a request: GCS refuses to finalize an upload
    whose bytes do not match it (the emulator ignores it; the check after finalizing stays)."""

    def __init__(self, session: Any, crc32c: str) -> None:
        self.session, self.crc32c = session, crc32c

    def request(
        self, method: str, url: str, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> Any:
        headers = {**(headers or {}), "x-goog-hash": f"crc32c={self.crc32c}"}
        return self.session.request(method, url, data=data, headers=headers, **kwargs)


class StreamWriter(io.RawIOBase):
    """A write-only stream that becomes object ``key`` when :meth:`finish` is called."""

    def __init__(self, client: GCSClient, key: str) -> None:
        super().__init__()
        c = client.config
        self._client, self._key, self._name = client, key, client._full(key)
        self._chunk_size = c.part_size
        self._threshold = c.resumable_threshold
        self._crc = google_crc32c.Checksum()
        self._size = 0
        # the chunk being filled, as views of the caller's bytes: joined (one copy) when full.
        # A BytesIO cost a tenth more time for a 50 MB archive: it copies as it grows
        self._pieces: list[memoryview | bytes] = []
        self._filled = 0
        self._held: list[bytes] = []  # full chunks kept until the object needs a resumable upload
        self._source = _ChunkSource()
        self._upload: Any = None  # the SDK's ResumableUpload, once a session is started
        self._transport: Any = None
        self._error: BaseException | None = None
        self._done = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._check()
        # bytes are immutable, so kept as they are; other buffers may be reused by the caller
        # (google_crc32c also takes bytes only)
        owned = data if type(data) is bytes else memoryview(data).tobytes()
        n = len(owned)
        self._crc.update(owned)
        self._size += n
        view = memoryview(owned)
        try:
            while view:
                room = self._chunk_size - self._filled
                piece: memoryview | bytes = view[:room]
                view = view[room:]
                if len(piece) < room and n > self._chunk_size:
                    piece = bytes(piece)  # a view of the rest would keep all of ``data`` alive
                self._pieces.append(piece)
                self._filled += len(piece)
                if self._filled == self._chunk_size:
                    self._held.append(self._take())
                    if self._upload is not None or self._size >= self._threshold:
                        self._send_held()
        except BaseException as exc:
            raise self._failed(exc)
        return n

    def _take(self) -> bytes:
        """The bytes collected since the last full chunk, as one object."""
        piece = b"".join(self._pieces)
        self._pieces, self._filled = [], 0
        return piece

    # -- sending ----------------------------------------------------------------------------
    def _start(self) -> None:
        c = self._client
        blob = c.bucket.blob(self._name)
        # the SDK's own start of a resumable upload (as its BlobWriter does): it builds the URL,
        # headers and metadata. checksum=None: the SDK would hash every chunk again
        options = dict(
            chunk_size=self._chunk_size, timeout=c.config.timeout, checksum=None, retry=c._retry
        )
        if "num_retries" in inspect.signature(blob._initiate_resumable_upload).parameters:
            options["num_retries"] = None  # 2.x releases require it
        self._upload, self._transport = blob._initiate_resumable_upload(
            c.bucket.client, self._source, None, None, **options
        )

    def _send_held(self) -> None:
        if self._upload is None:
            self._start()
        while self._held:
            self._transmit(self._held.pop(0), self._transport)

    def _transmit(self, piece: bytes, transport: Any) -> Any:
        """Send ``piece`` (a full chunk, or the last one) and return the response."""
        start = self._source.tell()
        self._source.put(piece)
        del piece  # the source holds the only reference, dropped once sent
        resp = self._upload.transmit_next_chunk(transport, timeout=self._client.config.timeout)
        self._source.release()
        if not self._upload.finished and self._upload.bytes_uploaded != self._source.tell():
            # GCS stores whole chunks; a shorter acknowledgement cannot be resumed from here
            raise StorageError(
                f"GCS upload of '{self._key}' in {self._client.store}: the server kept "
                f"{self._upload.bytes_uploaded} bytes after a chunk ending at byte "
                f"{self._source.tell()} (sent from {start})",
                key=self._key,
                store=self._client.store,
                hint="retry the upload",
            )
        return resp

    def finish(self) -> None:
        """Send what is left and make the object; raise (after cancelling) if anything failed."""
        self._check()
        crc = base64.b64encode(self._crc.digest()).decode()
        try:
            if self._upload is None and self._size < self._threshold:
                data = b"".join([*self._held, *self._pieces])
                self._held, self._pieces, self._filled = [], [], 0
                resource = self._upload_in_one_request(data, crc)
            else:
                self._send_held()
                resp = self._transmit(self._take(), _DeclareHash(self._transport, crc))
                if not self._upload.finished:
                    raise StorageError(
                        f"GCS did not finalize the upload of '{self._key}' in "
                        f"{self._client.store} after its last byte",
                        key=self._key,
                        store=self._client.store,
                        hint="",
                    )
                resource = resp.json()
        except BaseException as exc:
            raise self._failed(exc)
        self._done = True
        self._verify(resource, crc)

    def _upload_in_one_request(self, data: bytes, crc: str) -> dict[str, Any]:
        c = self._client
        blob = c.bucket.blob(self._name)
        blob.crc32c = crc  # sent in the metadata: GCS refuses content that does not match
        blob.upload_from_string(
            data, content_type="application/octet-stream", checksum=None, **c._kw()
        )
        return {"crc32c": blob.crc32c, "generation": blob.generation}

    def _verify(self, resource: dict[str, Any], crc: str) -> None:
        """Compare the finished object's crc32c with ours; delete the object if they differ."""
        stored = resource.get("crc32c")
        if stored and parse_hashes(f"crc32c={stored}").get("crc32c") == self._crc.digest():
            return
        c = self._client
        removed = "the object was removed"
        try:
            c.bucket.blob(self._name).delete(
                if_generation_match=resource.get("generation"), **c._kw()
            )
        except Exception as exc:  # the mismatch is the error to report
            removed = f"removing the object failed too ({type(exc).__name__}: {exc})"
        got = f"crc32c {stored}" if stored else "no crc32c"
        raise IntegrityError(
            f"GCS upload of '{self._key}' in {c.store}: the stored object has {got}, but the "
            f"{self._size} bytes written have crc32c {crc}; {removed}",
            key=self._key,
            store=c.store,
        )

    # -- failure ----------------------------------------------------------------------------
    def _check(self) -> None:
        if self._error is not None:
            raise self._failed(self._error)
        if self._done:
            raise ValueError(f"the upload of '{self._key}' is already finished")

    def _failed(self, exc: BaseException) -> BaseException:
        """Remember the first failure (later writes raise it too); return it translated."""
        self._error = self._error or exc
        error = self._translate(exc)
        if error is not exc:
            error.__cause__ = exc  # as ``raise error from exc``
        return error

    def _translate(self, exc: BaseException) -> BaseException:
        from google.api_core import exceptions as api
        from google.cloud.storage.exceptions import InvalidResponse

        if isinstance(exc, InvalidResponse) and getattr(exc, "response", None) is not None:
            # the media layer raises these for a refused request; the SDK's own upload
            # methods turn them into google.api_core errors, which translate() knows
            exc = api.from_http_response(exc.response)
        if isinstance(exc, api.BadRequest) and "crc32c" in str(exc.message).lower():
            store = self._client.store
            return IntegrityError(
                f"GCS refused the upload of '{self._key}' in {store}: the bytes "
                f"it received do not match their crc32c ({exc.message})",
                key=self._key,
                store=store,
            )
        return translate(exc, op="upload", key=self._key, client=self._client)

    def abort(self) -> None:
        """Drop everything and cancel the resumable session, so no object appears."""
        self._error = self._error or RuntimeError(f"the upload of '{self._key}' was aborted")
        self._held, self._pieces, self._filled = [], [], 0
        self._source.release()
        upload, self._upload = self._upload, None
        if upload is not None and not upload.finished and upload.resumable_url:
            try:  # GCS answers 499 to a cancelled session
                self._transport.request("DELETE", upload.resumable_url, timeout=CANCEL_TIMEOUT)
            except Exception:  # the original error matters more; unfinished sessions expire
                pass
        self._done = True


__all__ = ["StreamWriter"]

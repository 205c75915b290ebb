"""Upload an object from a stream of writes, without a local file: multipart from memory.

:meth:`OSSClient.open_write` hands out a :class:`StreamWriter`, the OSS requests for core's
:class:`~dflow.storage.parts.PartedWriter`: parts of ``part_size`` sent on ``workers``
threads while the caller keeps writing, each CRC-64 checked against the one OSS reports (see
:mod:`._multipart`); one PUT (Content-MD5, CRC-64 checked) below ``multipart_threshold``. The
CRC-64 of everything written is kept as it is written and compared with the completed
object's. On any failure, or if the caller's block raises, the multipart upload is aborted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dflow.storage.parts import PartedWriter

from . import _crc
from ._errors import translate
from ._multipart import MultipartUpload

if TYPE_CHECKING:
    from .client import OSSClient


class StreamWriter(PartedWriter):
    """A write-only stream that becomes object ``full`` (dflow key ``key``) on :meth:`finish`."""

    PART_SIZE_HINT = "raise part_size in the [storages.oss] section"

    def __init__(self, client: OSSClient, key: str, full: str) -> None:
        c = client.config
        super().__init__(
            key,
            client.store,
            part_size=c.part_size,
            threshold=c.multipart_threshold,
            workers=c.workers,
            thread_name="dflow-oss-part",
        )
        self._client, self._full = client, full
        self._crc = 0  # CRC-64 of everything written
        self._upload: MultipartUpload | None = None

    def _observe(self, data: bytes) -> None:
        self._crc = _crc.crc64(data, self._crc)

    def _begin(self) -> None:
        self._upload = MultipartUpload(self._client, self.key, self._full)

    def _send_part(self, number: int, part: bytes) -> Any:
        assert self._upload is not None
        return self._upload.send(number, part)

    def _complete(self, parts: list[Any]) -> None:
        assert self._upload is not None
        self._upload.complete(parts, self._crc)

    def _put_whole(self, chunks: list[bytes]) -> None:
        c = self._client
        c._call("upload", self.key, lambda: c._put_bytes(self._full, chunks))

    def _abort_upload(self) -> None:
        if self._upload is not None:
            self._upload.abort()

    def _translate(self, exc: BaseException) -> BaseException:
        return translate(exc, op="upload", key=self.key, client=self._client)


__all__ = ["StreamWriter"]

"""One OSS multipart upload, CRC-64 checked: shared by file uploads and :meth:`OSSClient.open_write`.

Each part's CRC-64 (fastcrc, see :mod:`._crc`) is compared with the one OSS reports for it; a
mismatch (the part was damaged on the way) re-sends that part. The completed object's CRC is
compared with what was sent, and a completed object that does not match is deleted, so a
damaged object never looks complete. Errors are oss2's (the caller translates them).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from dflow.storage.transfer import retrying

from . import _crc
from ._errors import is_transient

if TYPE_CHECKING:
    from .client import OSSClient

#: OSS's limits: part numbers 1..10,000, parts of at most 5 GiB
MAX_PARTS = 10_000
MAX_PART_SIZE = 5 * 1024**3


class MultipartUpload:
    """The multipart upload of dflow key ``key`` (object ``full``), initiated on construction."""

    def __init__(self, client: OSSClient, key: str, full: str) -> None:
        self.client, self.key, self.full = client, key, full
        self.finished = False
        self.upload_id: str = client._call(
            "upload",
            key,
            lambda: (
                client.bucket.init_multipart_upload(
                    full, headers={"Content-Type": "application/octet-stream"}
                ).upload_id
            ),
        )

    def send(self, number: int, data: bytes) -> Any:
        """Upload part ``number``, retried while it fails transiently or comes back with
        another CRC; return its ``oss2.models.PartInfo`` (with size and CRC)."""
        import oss2

        c = self.client
        crc = _crc.crc64(data)

        def once() -> Any:
            result = c.bucket.upload_part(self.full, self.upload_id, number, data)
            _crc.check(
                f"upload of part {number} of '{self.full}'", crc, result.crc, result.request_id
            )
            return result

        result = retrying(
            once,
            what=f"OSS upload of part {number} of '{self.key}' in {c.store}",
            attempts=max(1, c.config.retries),
            is_transient=is_transient,
        )
        return oss2.models.PartInfo(number, result.etag, size=len(data), part_crc=crc)

    def complete(self, parts: list[Any], crc: int | None = None) -> None:
        """Make the object from ``parts`` (in order); check its CRC against ``crc`` (that of
        all the bytes sent) or, if not given, against the parts' CRCs combined."""
        import oss2

        c = self.client
        if crc is None:
            crc = 0
            for part in parts:
                crc = _crc.combine(crc, part.part_crc, part.size)
        result = c._call(
            "upload",
            self.key,
            lambda: c.bucket.complete_multipart_upload(self.full, self.upload_id, parts),
        )
        self.finished = True
        try:
            _crc.check(
                f"upload of '{self.full}' (the completed object)",
                crc,
                result.crc,
                result.request_id,
            )
        except oss2.exceptions.InconsistentError:
            with contextlib.suppress(Exception):  # a damaged object must not look complete
                c.bucket.delete_object(self.full)
            raise

    def abort(self) -> None:
        """Drop the upload and the parts sent (errors ignored: the first error is the one to
        report, and a lifecycle rule can expire what is left)."""
        if not self.finished:
            self.finished = True
            with contextlib.suppress(Exception):
                self.client.bucket.abort_multipart_upload(self.full, self.upload_id)

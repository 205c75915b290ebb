"""Upload an object from a stream of writes, without a local file: multipart from memory.

:meth:`MinioClient.open_write` hands out a :class:`MultipartWriter`, the S3 requests for core's
:class:`~dflow.storage.parts.PartedWriter`: parts of ``multipart_chunksize``, each hashed and
sent with ``Content-MD5`` on ``max_concurrency`` threads while the caller keeps writing; one
PUT below ``multipart_threshold``. On success the composite ETag (``md5(part md5s)-N``) is
checked; on any failure, or if the caller's block raises, the multipart upload is aborted.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from dflow.storage.errors import IntegrityError
from dflow.storage.parts import PartedWriter
from dflow.storage.stream import multipart_etag

from .errors import translate

if TYPE_CHECKING:
    from .client import MinioClient


class MultipartWriter(PartedWriter):
    """A write-only stream that becomes the object ``key`` when :meth:`finish` is called."""

    PART_SIZE_HINT = "raise multipart_chunksize in the storage configuration"

    def __init__(self, client: MinioClient, key: str) -> None:
        c = client.config
        super().__init__(
            key,
            client.store,
            part_size=c.multipart_chunksize,
            threshold=c.multipart_threshold,
            workers=c.max_concurrency,
            thread_name="dflow-s3-part",
        )
        self._client = client
        self._upload_id: str | None = None

    def _begin(self) -> None:
        c = self._client
        self._upload_id = c.s3.create_multipart_upload(Bucket=c.bucket, Key=self.key)["UploadId"]

    def _send_part(self, number: int, part: bytes) -> tuple[bytes, str]:
        c = self._client
        md5 = hashlib.md5(part, usedforsecurity=False).digest()
        resp = c.s3.upload_part(
            Bucket=c.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=part,
            ContentMD5=base64.b64encode(md5).decode(),
        )
        etag = resp["ETag"].strip('"')
        if c.config.verify_integrity and etag != md5.hex():
            raise IntegrityError(
                f"upload of '{self.key}': part {number} came back with ETag "
                f"{etag}, not its MD5 {md5.hex()}",
                key=self.key,
                store=self.store,
            )
        return md5, etag

    def _complete(self, sent: list[tuple[bytes, str]]) -> None:
        c = self._client
        resp = c.s3.complete_multipart_upload(
            Bucket=c.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": i, "ETag": etag} for i, (_, etag) in enumerate(sent, 1)]
            },
        )
        expected = multipart_etag([md5 for md5, _ in sent])
        etag = resp.get("ETag", "").strip('"')
        if c.config.verify_integrity and etag and etag != expected:
            c.s3.delete_object(Bucket=c.bucket, Key=self.key)
            raise IntegrityError(
                f"upload of '{self.key}': server ETag {etag} does not match "
                f"the parts sent ({expected}); the object was removed",
                key=self.key,
                store=self.store,
            )

    def _put_whole(self, chunks: list[bytes]) -> None:
        self._client.put_data(self.key, b"".join(chunks))

    def _abort_upload(self) -> None:
        c = self._client
        c.s3.abort_multipart_upload(Bucket=c.bucket, Key=self.key, UploadId=self._upload_id)

    def _translate(self, exc: BaseException) -> BaseException:
        return translate(exc, self._client, self.key, "upload")


__all__ = ["MultipartWriter"]

"""``MinioClient``: the :class:`dflow.storage.StorageClient` for S3-compatible stores (boto3).

- Small files (below ``multipart_threshold``) go in one PUT with ``Content-MD5`` (the server
  rejects corrupted bodies) and come back in one streamed GET hashed on the fly against the
  ETag, which is the MD5 for single-part objects. These two requests go through
  :class:`~dflow_storage_minio.lean.LeanS3` (a third of botocore's CPU per call) unless
  ``lean_requests`` is off, the addressing style is ``auto`` or a proxy is configured.
- Large files go through boto3's managed transfer: multipart upload with ``max_concurrency``
  parts in flight, parallel ranged GETs on download. Multipart ETags are not MD5s: the upload
  hashes each part in a background thread and checks the composite ETag
  (``md5(part md5s)-N``); the download checks the size.
- Transient errors are retried by botocore (standard mode: exponential backoff); connection
  attempts time out after ``connect_timeout``. Errors become :mod:`dflow.storage.errors`.
- A failed multipart upload is aborted, so no partial object is left.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any

from dflow.storage.client import StorageCapabilities, StorageClient
from dflow.storage.errors import IntegrityError, NotFound, StorageError
from dflow.storage.parts import finish_or_abort
from dflow.storage.stream import RangedReader, multipart_etag
from dflow.storage.transfer import CHUNK, atomic_file, md5_file, retrying, run_concurrently

from .config import MinioConfig
from .errors import translate
from .lean import LeanS3

MD5_METADATA = "dflow-md5"

#: small files up to this size are read into memory once (hashed and sent from the buffer)
INLINE = 8 * 1024 * 1024


def _s3_config() -> dict[str, Any]:
    import importlib

    return importlib.import_module("dflow.config").s3_config


class MinioClient(StorageClient):
    """An S3 bucket. Connection arguments left None come from ``dflow.s3_config`` at use."""

    capabilities = StorageCapabilities(direct_download=True)

    def __init__(
        self,
        endpoint: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        secure: bool | None = None,
        bucket_name: str | None = None,
        **settings: Any,
    ) -> None:
        self.config = MinioConfig(
            endpoint=endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            bucket_name=bucket_name,
            **settings,
        )
        self._init_state()

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[tuple, Any] | None = None
        self._lean_cached: tuple[tuple, LeanS3 | None] | None = None

    @classmethod
    def from_config(cls, config: MinioConfig) -> MinioClient:
        client = cls.__new__(cls)
        client.config = config
        client._init_state()
        if config.prefix is not None and not _s3_config().get("prefix"):
            _s3_config()["prefix"] = config.prefix
        return client

    # -- settings and the boto3 client ------------------------------------------------
    def _conn(self) -> tuple[str, str, str, bool, str]:
        s3 = _s3_config()
        c = self.config

        def pick(value: Any, name: str) -> Any:
            return s3.get(name) if value is None else value

        return (
            pick(c.endpoint, "endpoint"),
            pick(c.access_key, "access_key"),
            pick(c.secret_key, "secret_key"),
            bool(pick(c.secure, "secure")),
            pick(c.bucket_name, "bucket_name"),
        )

    @property
    def url(self) -> str:
        endpoint, _, _, secure, _ = self._conn()
        if "://" in endpoint:
            return endpoint
        return f"{'https' if secure else 'http'}://{endpoint}"

    @property
    def bucket(self) -> str:
        return self._conn()[4]

    @property
    def store(self) -> str:
        return f"bucket '{self.bucket}' at {self.url}"

    def __repr__(self) -> str:
        return f"MinioClient({self.store})"

    @property
    def s3(self) -> Any:
        """The boto3 S3 client, rebuilt when the connection settings change."""
        conn = self._conn()
        with self._lock:
            if self._cached is None or self._cached[0] != conn:
                self._cached = (conn, self._make_boto(conn))
            return self._cached[1]

    @property
    def lean(self) -> LeanS3 | None:
        """The light PUT/GET path for small objects, or None where boto3 must be used."""
        conn = self._conn()
        with self._lock:
            if self._lean_cached is None or self._lean_cached[0] != conn:
                self._lean_cached = (conn, self._make_lean(conn))
            return self._lean_cached[1]

    def _make_lean(self, conn: tuple) -> LeanS3 | None:
        c = self.config
        _, access_key, secret_key, _, _ = conn
        if (
            not c.lean_requests
            or c.addressing_style not in ("path", "virtual")
            or not access_key
            or not secret_key
            or _proxied(self.url)
        ):
            return None
        return LeanS3(
            self.url,
            access_key,
            secret_key,
            region=c.region,
            virtual_host=c.addressing_style == "virtual",
            connect_timeout=c.connect_timeout,
            read_timeout=c.read_timeout,
            max_attempts=c.max_attempts,
        )

    def _make_boto(self, conn: tuple) -> Any:
        import boto3
        from botocore.config import Config

        _, access_key, secret_key, _, _ = conn
        c = self.config
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=c.region,
            config=Config(
                s3={"addressing_style": c.addressing_style},
                connect_timeout=c.connect_timeout,
                read_timeout=c.read_timeout,
                retries={"max_attempts": c.max_attempts, "mode": "standard"},
                max_pool_connections=max(10, 2 * c.max_concurrency, 32),
                # SeaweedFS and older MinIO do not accept the newer default checksums
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        c = self.config
        return TransferConfig(
            multipart_threshold=c.multipart_threshold,
            multipart_chunksize=c.multipart_chunksize,
            max_concurrency=c.max_concurrency,
            use_threads=c.max_concurrency > 1,
        )

    def _call(self, what: str, key: str, fn: Callable[[], Any], **ctx: Any) -> Any:
        try:
            return fn()
        except Exception as exc:
            raise translate(exc, self, key, what, **ctx) from exc

    # -- the StorageClient interface --------------------------------------------------
    def upload(self, key: str, path: str, *, progress: Callable[[int], None] | None = None) -> None:
        """Upload the file ``path``; ``progress(bytes)`` is called as data goes out."""
        if not os.path.isfile(path):
            what = "is a directory, not a file" if os.path.isdir(path) else "does not exist"
            raise NotFound(
                f"cannot upload '{path}' to '{key}': the local path {what}",
                key=key,
                store=self.store,
                hint="pass the path of an existing file",
            )
        size = os.path.getsize(path)
        if size < self.config.multipart_threshold:
            lean = self.lean
            put = self._put_lean if lean is not None else self._put_small
            self._call("upload", key, lambda: put(key, path, size, progress), path=path)
        else:
            self._call("upload", key, lambda: self._put_large(key, path, size, progress), path=path)

    def _put_lean(
        self, key: str, path: str, size: int, progress: Callable[[int], None] | None
    ) -> None:
        lean = self.lean
        assert lean is not None
        if size <= INLINE:  # one read: the bytes are hashed and sent from memory
            with open(path, "rb") as f:
                self.put_data(key, f.read())
        else:
            with open(path, "rb") as f:
                headers, md5 = checksum_headers(self.config.upload_checksum, f)
                f.seek(0)
                etag = lean.put(self.bucket, key, f, size, headers)
            self._check_etag(key, etag, md5)
        if progress:
            progress(size)

    def put_data(self, key: str, data: bytes) -> None:
        """Store ``data`` as ``key`` in one PUT carrying its checksum (errors untranslated)."""
        headers, md5 = checksum_headers(self.config.upload_checksum, data)
        lean = self.lean
        if lean is not None:
            etag = lean.put(self.bucket, key, data, len(data), headers)
        else:
            etag = self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, **_boto_checksum(headers)
            )["ETag"]
        self._check_etag(key, etag.strip('"'), md5)

    @contextlib.contextmanager
    def open_write(self, key: str, spool_dir: str | None = None) -> Iterator[IO[bytes]]:
        """Write the object as a stream: multipart from memory, no local file (see
        :mod:`~dflow_storage_minio.stream_upload`); aborted if the block raises."""
        from .stream_upload import MultipartWriter

        with finish_or_abort(MultipartWriter(self, key)) as writer:
            yield writer  # type: ignore[misc]

    def _check_etag(self, key: str, etag: str, md5: str | None) -> None:
        """Compare a single-part ETag with the local MD5 (None: the server checked a CRC)."""
        if md5 and self.config.verify_integrity and etag and "-" not in etag and etag != md5:
            raise IntegrityError(
                f"upload of '{key}': server ETag {etag} != local MD5 {md5}",
                key=key,
                store=self.store,
            )

    def _put_small(
        self, key: str, path: str, size: int, progress: Callable[[int], None] | None
    ) -> None:
        with open(path, "rb") as body:
            headers, md5 = checksum_headers(self.config.upload_checksum, body)
            body.seek(0)
            resp = self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, **_boto_checksum(headers)
            )
        if progress:
            progress(size)
        self._check_etag(key, resp.get("ETag", "").strip('"'), md5)

    def _put_large(
        self, key: str, path: str, size: int, progress: Callable[[int], None] | None
    ) -> None:
        from s3transfer.utils import ChunksizeAdjuster

        part = ChunksizeAdjuster().adjust_chunksize(self.config.multipart_chunksize, size)
        expected: dict[str, str] = {}
        hasher = threading.Thread(
            target=lambda: expected.update(_composite_etag(path, part)), daemon=True
        )
        if self.config.verify_integrity:
            hasher.start()  # hashes while the parts upload; the file is read from page cache
        self.s3.upload_file(
            path, self.bucket, key, Config=self._transfer_config(), Callback=progress
        )
        if not self.config.verify_integrity:
            return
        hasher.join()
        etag = self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"].strip('"')
        if etag not in (expected.get("composite"), expected.get("md5")):
            raise IntegrityError(
                f"upload of '{key}': server ETag {etag} does not match the local parts "
                f"({expected.get('composite')})",
                key=key,
                store=self.store,
            )

    def download(self, key: str, path: str) -> None:
        def attempt() -> None:
            with atomic_file(path) as tmp:
                self._call("download", key, lambda: self._get(key, tmp))

        # a corrupted transfer is worth one more try; a missing key is not retried
        retrying(
            attempt,
            what=f"download of '{key}' from {self.store}",
            attempts=2,
            is_transient=lambda e: isinstance(e, IntegrityError),
        )

    def download_new(self, key: str, path: str) -> None:
        """Download to ``path`` in a directory that exists and nobody reads yet (a staging
        directory of :func:`dflow.storage.objects.fetch_objects`): no temporary name."""
        retrying(
            lambda: self._call("download", key, lambda: self._get(key, path)),
            what=f"download of '{key}' from {self.store}",
            attempts=2,
            is_transient=lambda e: isinstance(e, IntegrityError),
        )

    def _get(self, key: str, dest: str) -> None:
        # one request for small objects: the GET's headers tell the size before the body is read
        lean = self.lean
        if lean is not None:
            size, etag, md5 = lean.get(self.bucket, key, lambda r: self._save_lean(r, dest))
        else:
            resp = self.s3.get_object(Bucket=self.bucket, Key=key)
            size, etag = resp["ContentLength"], resp.get("ETag", "").strip('"')
            md5 = None
            if size < self.config.multipart_threshold:
                md5 = _save(resp["Body"].iter_chunks(CHUNK), dest)
            else:
                resp["Body"].close()
        if md5 is None:
            self._get_large(key, dest, size, etag)
            return
        if not self.config.verify_integrity:
            return
        got = os.path.getsize(dest)
        if got != size:
            raise IntegrityError(
                f"download of '{key}': got {got} bytes, expected {size}", key=key, store=self.store
            )
        if md5 is not None and etag and "-" not in etag and md5 != etag:
            raise IntegrityError(
                f"download of '{key}': MD5 {md5} != ETag {etag}", key=key, store=self.store
            )

    def _get_large(self, key: str, dest: str, size: int, etag: str) -> None:
        """Parallel ranged GETs written in place; the parts' MD5s rebuild the ETag."""
        from s3transfer.utils import ChunksizeAdjuster

        part = ChunksizeAdjuster().adjust_chunksize(self.config.multipart_chunksize, size)
        with open(dest, "wb") as f:
            f.truncate(size)
            digests = run_concurrently(
                lambda start: self._range_into(key, f.fileno(), start, min(start + part, size)),
                range(0, size, part),
                max(1, self.config.max_concurrency),
            )
        if not self.config.verify_integrity or not etag:
            return
        count = etag.partition("-")[2]
        if not count:
            got = md5_file(dest)  # a big single-part object: its ETag is the MD5
        elif count == str(len(digests)):
            got = multipart_etag(digests)
        else:
            return  # uploaded in parts of another size: the ranges' lengths were checked
        if got != etag:
            raise IntegrityError(
                f"download of '{key}': the data read does not match ETag {etag} (got {got})",
                key=key,
                store=self.store,
            )

    def _range_into(self, key: str, fd: int, start: int, end: int) -> bytes:
        """GET bytes ``start``..``end - 1`` into ``fd`` at their offset; return their MD5."""

        def save(chunks: Iterator[bytes]) -> bytes:
            digest, pos = hashlib.md5(usedforsecurity=False), start
            for chunk in chunks:
                os.pwrite(fd, chunk, pos)
                digest.update(chunk)
                pos += len(chunk)
            if pos != end:
                raise IntegrityError(
                    f"download of '{key}': bytes {start}-{end - 1} came back "
                    f"{pos - start} bytes long",
                    key=key,
                    store=self.store,
                )
            return digest.digest()

        headers = {"Range": f"bytes={start}-{end - 1}"}
        lean = self.lean
        if lean is not None:
            return lean.get(
                self.bucket, key, lambda r: save(iter(lambda: r.read(CHUNK), b"")), headers=headers
            )
        body = self.s3.get_object(Bucket=self.bucket, Key=key, Range=headers["Range"])["Body"]
        return save(body.iter_chunks(CHUNK))

    def _save_lean(self, resp: Any, dest: str) -> tuple[int, str, str | None]:
        """Save a small object's body; a large one is left to boto3 (md5 None)."""
        length = resp.getheader("Content-Length")
        etag = (resp.getheader("ETag") or "").strip('"')
        if length is not None and int(length) >= self.config.multipart_threshold:
            return int(length), etag, None
        md5 = _save(iter(lambda: resp.read(CHUNK), b""), dest)
        return os.path.getsize(dest) if length is None else int(length), etag, md5

    @contextlib.contextmanager
    def open_read(self, key: str, spool_dir: str | None = None) -> Iterator[IO[bytes]]:
        """Stream the object by parallel ranged GETs; its ETag is checked at the last byte.

        Ranges are the upload part size, so the parts' MD5s rebuild a multipart ETag too.
        """
        from s3transfer.utils import ChunksizeAdjuster

        head = self._call("download", key, lambda: self.s3.head_object(Bucket=self.bucket, Key=key))
        size, etag = head["ContentLength"], head.get("ETag", "").strip('"')
        part = ChunksizeAdjuster().adjust_chunksize(self.config.multipart_chunksize, size)

        def fetch(start: int, end: int) -> bytes:
            return self._call("download", key, lambda: self._get_range(key, start, end))

        def verify(parts: list[bytes], md5: str) -> None:
            if not self.config.verify_integrity or not etag:
                return
            count = etag.partition("-")[2]
            expected = (
                md5 if not count else multipart_etag(parts) if count == str(len(parts)) else etag
            )  # parts of another size: the size check is all there is
            if expected != etag:
                raise IntegrityError(
                    f"download of '{key}': the data read does not match "
                    f"ETag {etag} (got {expected})",
                    key=key,
                    store=self.store,
                )

        reader = RangedReader(
            fetch, size, part=part, ahead=max(1, self.config.max_concurrency // 2), verify=verify
        )
        with io.BufferedReader(reader, CHUNK) as stream:
            yield stream

    def _get_range(self, key: str, start: int, end: int) -> bytes:
        headers = {"Range": f"bytes={start}-{end - 1}"}
        lean = self.lean
        if lean is not None:
            return lean.get(self.bucket, key, lambda resp: resp.read(), headers=headers)
        return self.s3.get_object(Bucket=self.bucket, Key=key, Range=headers["Range"])[
            "Body"
        ].read()

    def list(self, prefix: str, recursive: bool = False) -> list[str]:
        def run() -> list[str]:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if not recursive:
                kwargs["Delimiter"] = "/"
            out: list[str] = []
            for page in self.s3.get_paginator("list_objects_v2").paginate(**kwargs):
                out.extend(o["Key"] for o in page.get("Contents", []))
                out.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
            return sorted(out)

        return self._call("list", prefix, run)

    def copy(self, src: str, dst: str) -> None:
        source = {"Bucket": self.bucket, "Key": src}
        self._call(
            "copy",
            src,
            lambda: self.s3.copy(source, self.bucket, dst, Config=self._transfer_config()),
            dst=dst,
        )

    def get_md5(self, key: str) -> str:
        head = self._call("get_md5", key, lambda: self.s3.head_object(Bucket=self.bucket, Key=key))
        meta = head.get("Metadata") or {}
        etag = head.get("ETag", "").strip('"')
        if meta.get(MD5_METADATA):
            return meta[MD5_METADATA]
        if etag and "-" not in etag:
            return etag

        # a multipart object's ETag is not its MD5: hash the content as it streams by
        def run() -> str:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            digest = hashlib.md5(usedforsecurity=False)
            for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
            return digest.hexdigest()

        return self._call("get_md5", key, run)

    # -- extras -----------------------------------------------------------------------
    def create_bucket(self) -> None:
        """Create the configured bucket if it does not exist."""

        def run() -> None:
            existing = [b["Name"] for b in self.s3.list_buckets().get("Buckets", [])]
            if self.bucket not in existing:
                self.s3.create_bucket(Bucket=self.bucket)

        self._call("create_bucket", "", run)

    def bucket_exists(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_bucket(Bucket=self.bucket)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise


def _save(chunks: Iterator[bytes], dest: str) -> str:
    """Write ``chunks`` to ``dest``; return their MD5. A local write error is not retried."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        f = open(dest, "wb")
    except OSError as exc:
        raise StorageError(f"cannot write '{dest}': {exc}") from exc
    with f:
        for chunk in chunks:
            digest.update(chunk)
            try:
                f.write(chunk)
            except OSError as exc:
                raise StorageError(f"cannot write '{dest}': {exc}") from exc
    return digest.hexdigest()


def _proxied(url: str) -> bool:
    """True when the environment routes ``url`` through a proxy (boto3 honours proxies)."""
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    return parts.scheme in proxies and not urllib.request.proxy_bypass(parts.hostname or "")


def _composite_etag(path: str, part_size: int) -> dict[str, str]:
    """Whole-file MD5 and the S3 multipart ETag for ``part_size`` parts, in one read."""
    whole = hashlib.md5(usedforsecurity=False)
    parts: list[bytes] = []
    with open(path, "rb") as f:
        while True:
            part = hashlib.md5(usedforsecurity=False)
            remaining = part_size
            while remaining and (chunk := f.read(min(CHUNK, remaining))):
                part.update(chunk)
                whole.update(chunk)
                remaining -= len(chunk)
            if remaining == part_size:
                break
            parts.append(part.digest())
    composite = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
    return {"md5": whole.hexdigest(), "composite": f"{composite}-{len(parts)}"}


def checksum_headers(kind: str, body: bytes | IO[bytes]) -> tuple[dict[str, str], str | None]:
    """The header a one-request upload of ``body`` carries, and its hex MD5 (None for CRC-32).

    The server refuses a body whose checksum differs (S3's PutObject: ``Content-MD5`` and
    ``x-amz-checksum-crc32``), so a CRC-32 upload needs no ETag comparison afterwards.
    """
    chunks: Iterator[bytes] = (
        iter((body,)) if isinstance(body, bytes) else iter(lambda: body.read(CHUNK), b"")
    )
    if kind == "crc32":
        crc = 0
        for chunk in chunks:
            crc = zlib.crc32(chunk, crc)
        value = base64.b64encode(crc.to_bytes(4, "big")).decode()
        return {"x-amz-checksum-crc32": value}, None
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in chunks:
        digest.update(chunk)
    return {"Content-MD5": base64.b64encode(digest.digest()).decode()}, digest.hexdigest()


def _boto_checksum(headers: dict[str, str]) -> dict[str, str]:
    """:func:`checksum_headers` as boto3 ``put_object`` arguments."""
    if "x-amz-checksum-crc32" in headers:
        return {"ChecksumCRC32": headers["x-amz-checksum-crc32"]}
    return {"ContentMD5": headers["Content-MD5"]}

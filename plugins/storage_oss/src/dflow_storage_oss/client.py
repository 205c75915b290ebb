"""``OSSClient``: dflow's :class:`~dflow.storage.StorageClient` for Aliyun OSS, over oss2.

Integrity: every put, part, completed multipart object and get is checked against the CRC-64
OSS reports (computed here with fastcrc, see :mod:`._crc`, while the bytes stream: no extra
pass over the file); ranged downloads and multipart uploads combine the CRCs of their pieces
and compare them with the object's. A mismatch is retried, then raised as
:class:`~dflow.storage.IntegrityError`. Single-part uploads also send ``Content-MD5`` (OSS
rejects a damaged body) and keep the MD5 as ``x-oss-meta-dflow-md5`` for :meth:`get_md5`; a
multipart object's MD5 is hashed from its content when asked for (an MD5 up front would cost
a whole pass over the file before the first byte is sent). :meth:`OSSClient.open_write`
streams an object from memory, parts sent while the caller writes (see :mod:`._stream_upload`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import os
import re
import threading
import urllib.request
from collections.abc import Iterator
from typing import IO, Any

import attrs
from dflow.storage.client import StorageCapabilities, StorageClient
from dflow.storage.errors import NotFound, StorageError, describe_store
from dflow.storage.parts import finish_or_abort
from dflow.storage.stream import ranged_stream
from dflow.storage.transfer import CHUNK, atomic_file, md5_file, retrying, run_concurrently

from . import _crc
from ._errors import is_transient, translate
from ._lean import LeanObjects
from ._multipart import MAX_PARTS, MultipartUpload
from .config import OSSConfig

#: user metadata holding the hex MD5 of the uploaded content
MD5_META = "x-oss-meta-dflow-md5"
_HEX_MD5 = re.compile(r"[0-9A-Fa-f]{32}")
#: files up to this size are read into memory once (hashed and sent from the buffer)
INLINE = 8 * 1024 * 1024


def _oss2() -> Any:
    import oss2  # heavy: imported when a client is used, not when the plugin is loaded

    return oss2


def _proxies(endpoint: str) -> bool:
    """Whether the environment routes ``endpoint`` through a proxy (then requests does the talking)."""
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    proxies = urllib.request.getproxies()
    wanted = {k: v for k, v in proxies.items() if k in ("http", "https", "all")}
    return bool(wanted) and not urllib.request.proxy_bypass(host)


def _repo_prefix() -> str:
    from dflow.config import s3_config

    return str(s3_config.get("repo_prefix") or "")


class OSSClient(StorageClient):
    """Objects in one OSS bucket, under an optional key prefix.

    ``OSSClient(endpoint=None, bucket_name=None, access_key_id=None, access_key_secret=None)``
    is pydflow's signature: missing values come from the ``OSS_*`` environment variables and
    keys get pydflow's ``s3_config["repo_prefix"]``. Other :class:`OSSConfig` fields
    (``prefix``, ``part_size``, ``auth_version``, ...) may be passed as keywords.
    """

    capabilities = StorageCapabilities(direct_download=True)
    store: str = ""  # set in __init__

    def __init__(
        self,
        endpoint: str | None = None,
        bucket_name: str | None = None,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        *,
        config: OSSConfig | None = None,
        **options: Any,
    ) -> None:
        given: dict[str, Any] = dict(
            endpoint=endpoint,
            bucket_name=bucket_name,
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
        )
        given = {k: v for k, v in given.items() if v is not None}
        if config is None and "prefix" not in options:
            options["prefix"] = _repo_prefix()
        self.config = attrs.evolve(config or OSSConfig(), **given, **options)
        self._check_config()
        endpoint = (self.config.endpoint or "").rstrip("/")  # _check_config: it is set
        if "://" not in endpoint:
            endpoint = ("https://" if self.config.secure else "http://") + endpoint
        self.endpoint = endpoint
        self.bucket_name = self.config.bucket_name
        self.prefix = self.config.prefix
        self.store = describe_store(endpoint, self.bucket_name)
        self._bucket: Any = None
        self._lean: LeanObjects | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: OSSConfig) -> OSSClient:
        """The client a ``[storages.oss]`` configuration section describes."""
        return cls(config=config)

    def __repr__(self) -> str:
        return f"OSSClient(endpoint={self.endpoint!r}, bucket_name={self.bucket_name!r}, prefix={self.prefix!r})"

    def _check_config(self) -> None:
        from dflow.config import ConfigError

        for field, env in (
            ("endpoint", "OSS_ENDPOINT"),
            ("bucket_name", "OSS_BUCKET_NAME"),
            ("access_key_id", "OSS_ACCESS_KEY_ID"),
            ("access_key_secret", "OSS_ACCESS_KEY_SECRET"),
        ):
            if not getattr(self.config, field):
                raise ConfigError(
                    f"OSS storage: {field} is not set; pass OSSClient({field}=...), set {env}, "
                    f"or set {field} in the [storages.oss] section of dflow.toml"
                )
        if self.config.auth_version == "v4" and not self.config.region:
            raise ConfigError(
                "OSS storage: auth_version 'v4' needs region (or OSS_REGION), e.g. 'cn-hangzhou'"
            )

    @property
    def bucket(self) -> Any:
        """The oss2 ``Bucket`` (built on first use, shared by threads)."""
        with self._lock:
            if self._bucket is None:
                oss2 = _oss2()
                c = self.config
                make_auth = oss2.AuthV4 if c.auth_version == "v4" else oss2.Auth
                self._bucket = oss2.Bucket(
                    make_auth(c.access_key_id, c.access_key_secret),
                    self.endpoint,
                    c.bucket_name,
                    # CRCs are computed here with fastcrc (see _crc) and compared with OSS's
                    connect_timeout=c.connect_timeout,
                    enable_crc=False,
                    region=c.region,
                    session=oss2.Session(pool_size=max(32, 2 * c.workers)),
                )
                if c.lean_requests and not _proxies(self.endpoint):
                    self._lean = LeanObjects(self._bucket, c.connect_timeout)
            return self._bucket

    @property
    def lean(self) -> LeanObjects | None:
        """The lean single-object path, or None where oss2's requests session is used."""
        _ = self.bucket
        return self._lean

    # -- plumbing ---------------------------------------------------------------------------
    def _full(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise StorageError(
                f"invalid key {key!r}",
                key=str(key),
                store=self.store,
                hint="keys are non-empty '/'-separated strings",
            )
        return self.prefix + key

    def _call(self, op: str, key: str, fn: Any) -> Any:
        """Run ``fn`` with retries on transient errors; raise dflow's errors for oss2's."""
        try:
            return retrying(
                fn,
                what=f"OSS {op} of '{key}' in {self.store}",
                attempts=max(1, self.config.retries),
                is_transient=is_transient,
            )
        except Exception as exc:
            raise translate(exc, op=op, key=key, client=self) from exc

    # -- StorageClient ----------------------------------------------------------------------
    def upload(self, key: str, path: str) -> None:
        full = self._full(key)
        if not os.path.isfile(path):
            what = "is a directory, not a file" if os.path.isdir(path) else "does not exist"
            raise NotFound(
                f"cannot upload '{path}' to '{key}': the local path {what}",
                key=key,
                store=self.store,
                hint="pass the path of an existing file",
            )
        size = os.path.getsize(path)
        if size >= self.config.multipart_threshold:
            try:
                self._upload_parts(key, full, path, size)
            except Exception as exc:
                error = translate(exc, op="upload", key=key, client=self)
                if error is exc:
                    raise
                raise error from exc
        elif size <= INLINE:
            self._call("upload", key, lambda: self._put_inline(full, path))
        else:
            md5 = md5_file(path)  # Content-MD5 goes in the headers, before the streamed body
            self._call("upload", key, lambda: self._put_streamed(full, path, md5))

    def _put_inline(self, full: str, path: str) -> None:
        with open(path, "rb") as f:
            self._put_bytes(full, [f.read()])

    def _put_bytes(self, full: str, chunks: list[bytes]) -> None:
        """Store the concatenated ``chunks`` as object ``full`` in one PUT, with Content-MD5,
        the MD5 kept as metadata and the CRC-64 checked (errors are oss2's, not translated)."""
        digest, crc = hashlib.md5(usedforsecurity=False), 0
        for chunk in chunks:
            digest.update(chunk)
            crc = _crc.crc64(chunk, crc)
        md5 = digest.digest()
        headers = {"Content-MD5": base64.b64encode(md5).decode(), MD5_META: md5.hex()}
        if self.lean is not None:  # sends the chunks as they are: no joined copy
            server_crc, request_id = self.lean.put(full, chunks, headers)
        else:
            result = self.bucket.put_object(full, b"".join(chunks), headers=headers)
            server_crc, request_id = result.crc, result.request_id
        _crc.check(f"upload of '{full}'", crc, server_crc, request_id)

    def _put_streamed(self, full: str, path: str, md5: str) -> None:
        headers = {
            "Content-Type": "application/octet-stream",
            MD5_META: md5,
            "Content-MD5": base64.b64encode(bytes.fromhex(md5)).decode(),
        }
        with open(path, "rb") as f:
            reader = _CrcReader(f, os.fstat(f.fileno()).st_size)
            result = self.bucket.put_object(full, reader, headers=headers)
        _crc.check(f"upload of '{full}'", reader.crc, result.crc, result.request_id)

    def _upload_parts(self, key: str, full: str, path: str, size: int) -> None:
        """Multipart upload, ``workers`` parts in flight, each read into memory once.

        CRCs are checked per part and for the completed object (see :mod:`._multipart`). No
        whole-file hashing pass before the first byte is sent; on any failure the upload is
        aborted, so no partial object appears.
        """
        step = max(self.config.part_size, -(-size // MAX_PARTS))
        ranges = [
            (n, start, min(start + step, size)) for n, start in enumerate(range(0, size, step), 1)
        ]
        upload = MultipartUpload(self, key, full)

        def send(part: tuple[int, int, int]) -> Any:
            number, start, end = part
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(end - start)
            if len(data) != end - start:
                raise StorageError(
                    f"'{path}' changed while it was uploaded to '{key}'",
                    key=key,
                    store=self.store,
                    hint="upload a file nobody is writing to",
                )
            return upload.send(number, data)

        try:
            upload.complete(run_concurrently(send, ranges, workers=self.config.workers))
        except BaseException:
            upload.abort()
            raise

    @contextlib.contextmanager
    def open_write(self, key: str, spool_dir: str | None = None) -> Iterator[IO[bytes]]:
        """Write the object as a stream: multipart from memory, no local file (``spool_dir``
        is not used; see :mod:`._stream_upload`). Nothing is stored if the block raises."""
        from ._stream_upload import StreamWriter

        with finish_or_abort(StreamWriter(self, key, self._full(key))) as writer:
            yield writer  # type: ignore[misc]

    def download(self, key: str, path: str) -> None:
        full = self._full(key)
        with atomic_file(path) as tmp:
            self._call("download", key, lambda: self._download_to(full, tmp))

    def download_new(self, key: str, path: str) -> None:
        """Download to ``path`` directly (no temporary name): for a path no reader looks at
        until the caller renames its directory into place (``dflow.storage``'s tree downloads).
        A failed download removes what it wrote."""
        full = self._full(key)
        try:
            self._call("download", key, lambda: self._download_to(full, path))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise

    @contextlib.contextmanager
    def open_read(self, key: str, spool_dir: str | None = None) -> Iterator[IO[bytes]]:
        """Stream the object by parallel ranged GETs (nothing spooled to disk).

        Every range is pinned to the object's ETag (``If-Match``), so a concurrent overwrite
        cannot be mixed in; the ranges' CRC-64s are combined and compared with the object's
        when the last byte is read, before the reader sees the end of the stream.
        """
        full = self._full(key)
        head = self._call("download", key, lambda: self.bucket.head_object(full))
        size, etag = head.content_length or 0, head.etag
        server_crc = head.server_crc
        crcs: dict[int, int] = {}

        def fetch(start: int, end: int) -> bytes:
            def once() -> bytes:
                got = self.bucket.get_object(
                    full, byte_range=(start, end - 1), headers={"If-Match": etag}
                )
                data = got.read()
                crcs[start] = _crc.crc64(data)
                return data

            return self._call("download", key, once)

        def verify(_parts: list[bytes], _md5: str) -> None:
            combined = 0
            for start in sorted(crcs):
                combined = _crc.combine(combined, crcs[start], min(step, size - start))
            _crc.check(f"streamed download of '{full}'", combined, server_crc, None)

        step = self.config.part_size
        with ranged_stream(
            fetch,
            size,
            part=step,
            ahead=max(1, self.config.workers),
            verify=verify,
            translate=lambda exc: translate(exc, op="download", key=key, client=self),
            buffer_size=CHUNK,
        ) as stream:
            yield stream

    def _download_to(self, full: str, tmp: str) -> None:
        lean = self.lean
        if lean is not None:
            return self._download_lean(lean, full, tmp)
        result = self.bucket.get_object(full)
        size = result.content_length
        if size is not None and size >= self.config.multipart_threshold and self.config.workers > 1:
            result.resp.response.close()  # large: fetch by ranges in parallel instead
            return self._download_ranges(full, tmp, size, result.etag, result.server_crc)
        self._save(full, tmp, result.read, size, result.server_crc, result.request_id)

    def _download_lean(self, lean: LeanObjects, full: str, tmp: str) -> None:
        oss2 = _oss2()
        resp = lean.get(full)
        size, headers = resp.length, resp.headers
        crc = headers.get("x-oss-hash-crc64ecma")
        server_crc, request_id = (int(crc) if crc else None), headers.get("x-oss-request-id", "")
        if size is not None and size >= self.config.multipart_threshold and self.config.workers > 1:
            lean.discard()  # large: fetch by ranges in parallel instead
            etag = (headers.get("ETag") or "").strip('"')
            return self._download_ranges(full, tmp, size, etag, server_crc)
        try:
            self._save(full, tmp, resp.read, size, server_crc, request_id)
        except (OSError, http.client.HTTPException) as exc:
            lean.discard()
            if isinstance(exc, OSError) and not isinstance(exc, ConnectionError | TimeoutError):
                raise  # a local write error: not the network's
            raise oss2.exceptions.RequestError(exc) from exc

    def _save(
        self,
        full: str,
        tmp: str,
        read: Any,
        size: int | None,
        server_crc: int | None,
        request_id: str,
    ) -> None:
        """Stream a body (``read(n)``) to ``tmp``, then check its length and CRC-64."""
        written = crc = 0
        with open(tmp, "wb") as f:
            while chunk := read(CHUNK):
                f.write(chunk)
                crc = _crc.crc64(chunk, crc)
                written += len(chunk)
        if size is not None and written != size:
            raise _oss2().exceptions.InconsistentError(f"got {written} of {size} bytes", request_id)
        _crc.check(f"download of '{full}'", crc, server_crc, request_id)

    def _download_ranges(
        self, full: str, tmp: str, size: int, etag: str, server_crc: int | None
    ) -> None:
        oss2 = _oss2()
        step = self.config.part_size
        parts = [(start, min(start + step, size)) for start in range(0, size, step)]
        with open(tmp, "wb") as f:
            f.truncate(size)
        fd = os.open(tmp, os.O_WRONLY)
        try:

            def fetch(part: tuple[int, int]) -> int:
                def once() -> int:
                    start, end = part
                    # If-Match: a range of a newer version of the object must not be mixed in
                    got = self.bucket.get_object(
                        full, byte_range=(start, end - 1), headers={"If-Match": etag}
                    )
                    offset, crc = start, 0
                    while chunk := got.read(CHUNK):
                        os.pwrite(fd, chunk, offset)
                        crc = _crc.crc64(chunk, crc)
                        offset += len(chunk)
                    if offset != end:
                        raise oss2.exceptions.InconsistentError(
                            f"range {start}-{end - 1}: got {offset - start} bytes", got.request_id
                        )
                    return crc

                return retrying(
                    once,
                    what=f"OSS ranged get of '{full}'",
                    attempts=max(1, self.config.retries),
                    is_transient=is_transient,
                )

            crcs = run_concurrently(fetch, parts, workers=self.config.workers)
        finally:
            os.close(fd)
        combined = 0
        for (start, end), crc in zip(parts, crcs, strict=True):
            combined = _crc.combine(combined, crc, end - start)
        _crc.check(f"ranged download of '{full}'", combined, server_crc, None)

    def list(self, prefix: str, recursive: bool = False) -> list[str]:
        full = self.prefix + prefix
        found: list[str] = []
        token = ""
        while True:
            page = self._call(
                "list",
                prefix,
                lambda t=token: self.bucket.list_objects_v2(
                    prefix=full,
                    delimiter="" if recursive else "/",
                    continuation_token=t,
                    max_keys=1000,
                ),
            )
            found += [obj.key for obj in page.object_list]
            found += page.prefix_list
            if not page.is_truncated:
                break
            token = page.next_continuation_token
        cut = len(self.prefix)
        return sorted(k[cut:] for k in found)

    def copy(self, src: str, dst: str) -> None:
        source, dest = self._full(src), self._full(dst)
        head = self._call("copy", src, lambda: self.bucket.head_object(source))
        if head.content_length <= self.config.copy_threshold:
            self._call("copy", src, lambda: self.bucket.copy_object(self.bucket_name, source, dest))
        else:
            self._call("copy", src, lambda: self._copy_parts(source, dest, head))

    def _copy_parts(self, source: str, dest: str, head: Any) -> None:
        oss2 = _oss2()
        keep = {
            k: v
            for k, v in head.headers.items()
            if k.lower().startswith("x-oss-meta-") or k.lower() == "content-type"
        }
        upload_id = self.bucket.init_multipart_upload(dest, headers=keep).upload_id
        size, step = head.content_length, self.config.part_size
        ranges = list(enumerate(range(0, size, step), start=1))

        def copy_part(item: tuple[int, int]) -> Any:
            number, start = item
            end = min(start + step, size) - 1
            result = retrying(
                lambda: self.bucket.upload_part_copy(
                    self.bucket_name, source, (start, end), dest, upload_id, number
                ),
                what=f"OSS part copy of '{source}'",
                attempts=max(1, self.config.retries),
                is_transient=is_transient,
            )
            return oss2.models.PartInfo(number, result.etag)

        try:
            parts = run_concurrently(copy_part, ranges, workers=self.config.workers)
            self.bucket.complete_multipart_upload(dest, upload_id, parts)
        except BaseException:
            self.bucket.abort_multipart_upload(dest, upload_id)
            raise

    def get_md5(self, key: str) -> str:
        full = self._full(key)
        head = self._call("get_md5", key, lambda: self.bucket.head_object(full))
        stored = head.headers.get(MD5_META)
        if stored:
            return stored.lower()
        if head.object_type == "Normal" and _HEX_MD5.fullmatch(head.etag or ""):
            return head.etag.lower()  # a single-part object's ETag is its MD5

        def compute() -> str:  # uploaded in parts (here or by another tool): hash the content
            result = self.bucket.get_object(full)
            digest, crc = hashlib.md5(usedforsecurity=False), 0
            while chunk := result.read(CHUNK):
                digest.update(chunk)
                crc = _crc.crc64(chunk, crc)
            _crc.check(f"get_md5 of '{full}'", crc, result.server_crc, result.request_id)
            return digest.hexdigest()

        return self._call("get_md5", key, compute)

    def delete(self, key: str) -> None:
        """Remove one object (no error if it does not exist)."""
        full = self._full(key)
        self._call("delete", key, lambda: self.bucket.delete_object(full))


class _CrcReader:
    """A file's bytes for a streamed PUT, CRC-64 computed as they are read."""

    def __init__(self, f: Any, size: int) -> None:
        self._f, self._size, self.crc = f, size, 0

    def __len__(self) -> int:  # requests sends Content-Length, not chunked encoding
        return self._size

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self.crc = _crc.crc64(data, self.crc)
        return data

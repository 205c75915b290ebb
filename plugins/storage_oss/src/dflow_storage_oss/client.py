"""``OSSClient``: dflow's :class:`~dflow.storage.StorageClient` for Aliyun OSS, over oss2.

Integrity: oss2 checks the CRC-64 OSS reports for every put, part and whole-object get; ranged
downloads combine the CRCs of their ranges and compare them with the object's. The MD5 of each
upload is sent as ``Content-MD5`` (single part, verified by OSS) and kept as the
``x-oss-meta-dflow-md5`` metadata, so :meth:`OSSClient.get_md5` works for multipart objects too.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from typing import Any

import attrs
from dflow.storage.client import StorageClient
from dflow.storage.errors import NotFound, StorageError, describe_store
from dflow.storage.transfer import CHUNK, atomic_file, md5_file, retrying, run_concurrently

from ._errors import is_transient, translate
from .config import OSSConfig

#: user metadata holding the hex MD5 of the uploaded content
MD5_META = "x-oss-meta-dflow-md5"
_HEX_MD5 = re.compile(r"[0-9A-Fa-f]{32}")


def _oss2() -> Any:
    import oss2  # heavy: imported when a client is used, not when the plugin is loaded

    return oss2


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
        given = dict(endpoint=endpoint, bucket_name=bucket_name, access_key_id=access_key_id,
                     access_key_secret=access_key_secret)
        given = {k: v for k, v in given.items() if v is not None}
        if config is None and "prefix" not in options:
            options["prefix"] = _repo_prefix()
        self.config = attrs.evolve(config or OSSConfig(), **given, **options)
        self._check_config()
        endpoint = self.config.endpoint.rstrip("/")
        if "://" not in endpoint:
            endpoint = ("https://" if self.config.secure else "http://") + endpoint
        self.endpoint = endpoint
        self.bucket_name = self.config.bucket_name
        self.prefix = self.config.prefix
        self.store = describe_store(endpoint, self.bucket_name)
        self._bucket: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: OSSConfig) -> OSSClient:
        """The client a ``[storage.oss]`` configuration section describes."""
        return cls(config=config)

    def __repr__(self) -> str:
        return f"OSSClient(endpoint={self.endpoint!r}, bucket_name={self.bucket_name!r}, prefix={self.prefix!r})"

    def _check_config(self) -> None:
        from dflow.config import ConfigError

        for field, env in (("endpoint", "OSS_ENDPOINT"), ("bucket_name", "OSS_BUCKET_NAME"),
                           ("access_key_id", "OSS_ACCESS_KEY_ID"),
                           ("access_key_secret", "OSS_ACCESS_KEY_SECRET")):
            if not getattr(self.config, field):
                raise ConfigError(
                    f"OSS storage: {field} is not set; pass OSSClient({field}=...), set {env}, "
                    f"or set {field} in the [storage.oss] section of dflow.toml"
                )
        if self.config.auth_version == "v4" and not self.config.region:
            raise ConfigError("OSS storage: auth_version 'v4' needs region (or OSS_REGION), e.g. 'cn-hangzhou'")

    @property
    def bucket(self) -> Any:
        """The oss2 ``Bucket`` (built on first use, shared by threads)."""
        with self._lock:
            if self._bucket is None:
                oss2 = _oss2()
                c = self.config
                make_auth = oss2.AuthV4 if c.auth_version == "v4" else oss2.Auth
                self._bucket = oss2.Bucket(
                    make_auth(c.access_key_id, c.access_key_secret), self.endpoint, c.bucket_name,
                    connect_timeout=c.connect_timeout, enable_crc=True, region=c.region,
                    session=oss2.Session(pool_size=max(32, 2 * c.workers)),
                )
            return self._bucket

    # -- plumbing ---------------------------------------------------------------------------
    def _full(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise StorageError(f"invalid key {key!r}", key=str(key), store=self.store,
                               hint="keys are non-empty '/'-separated strings")
        return self.prefix + key

    def _call(self, op: str, key: str, fn: Any) -> Any:
        """Run ``fn`` with retries on transient errors; raise dflow's errors for oss2's."""
        try:
            return retrying(fn, what=f"OSS {op} of '{key}' in {self.store}",
                            attempts=max(1, self.config.retries), is_transient=is_transient)
        except Exception as exc:
            raise translate(exc, op=op, key=key, client=self) from exc

    def _checkpoints(self) -> Any:
        root = self.config.checkpoint_dir or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dflow", "oss")
        return _oss2().ResumableStore(root=root, dir="upload")

    # -- StorageClient ----------------------------------------------------------------------
    def upload(self, key: str, path: str) -> None:
        full = self._full(key)
        if not os.path.isfile(path):
            what = "is a directory, not a file" if os.path.isdir(path) else "does not exist"
            raise NotFound(f"cannot upload '{path}' to '{key}': the local path {what}",
                           key=key, store=self.store, hint="pass the path of an existing file")
        md5 = md5_file(path)
        headers = {MD5_META: md5}
        if os.path.getsize(path) < self.config.multipart_threshold:
            headers["Content-MD5"] = base64.b64encode(bytes.fromhex(md5)).decode()

            def put() -> None:
                with open(path, "rb") as f:
                    self.bucket.put_object(full, f, headers=headers)

            self._call("upload", key, put)
            return
        c = self.config
        store = self._checkpoints()  # a retried or re-run upload sends only the missing parts
        self._call("upload", key, lambda: _oss2().resumable_upload(
            self.bucket, full, path, store=store, headers=headers, multipart_threshold=0,
            part_size=c.part_size, num_threads=c.workers))

    def download(self, key: str, path: str) -> None:
        full = self._full(key)
        with atomic_file(path) as tmp:
            self._call("download", key, lambda: self._download_to(full, tmp))

    def _download_to(self, full: str, tmp: str) -> None:
        oss2 = _oss2()
        result = self.bucket.get_object(full)
        size = result.content_length
        if size is not None and size >= self.config.multipart_threshold and self.config.workers > 1:
            result.resp.response.close()  # large: fetch by ranges in parallel instead
            return self._download_ranges(full, tmp, size, result.etag, result.server_crc)
        written = 0
        with open(tmp, "wb") as f:
            while chunk := result.read(CHUNK):
                f.write(chunk)
                written += len(chunk)
        if size is not None and written != size:
            raise oss2.exceptions.InconsistentError(f"got {written} of {size} bytes", result.request_id)
        oss2.utils.check_crc("download", result.client_crc, result.server_crc, result.request_id)

    def _download_ranges(self, full: str, tmp: str, size: int, etag: str, server_crc: int | None) -> None:
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
                    got = self.bucket.get_object(full, byte_range=(start, end - 1),
                                                 headers={"If-Match": etag})
                    offset = start
                    while chunk := got.read(CHUNK):
                        os.pwrite(fd, chunk, offset)
                        offset += len(chunk)
                    if offset != end:
                        raise oss2.exceptions.InconsistentError(
                            f"range {start}-{end - 1}: got {offset - start} bytes", got.request_id)
                    return got.client_crc

                return retrying(once, what=f"OSS ranged get of '{full}'",
                                attempts=max(1, self.config.retries), is_transient=is_transient)

            crcs = run_concurrently(fetch, parts, workers=self.config.workers)
        finally:
            os.close(fd)
        combined, crc64 = 0, oss2.utils.Crc64()
        for (start, end), crc in zip(parts, crcs, strict=True):
            combined = crc64.combine(combined, crc, end - start)
        oss2.utils.check_crc("ranged download", combined, server_crc, None)

    def list(self, prefix: str, recursive: bool = False) -> list[str]:
        full = self.prefix + prefix
        found: list[str] = []
        token = ""
        while True:
            page = self._call("list", prefix, lambda t=token: self.bucket.list_objects_v2(
                prefix=full, delimiter="" if recursive else "/", continuation_token=t, max_keys=1000))
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
        keep = {k: v for k, v in head.headers.items()
                if k.lower().startswith("x-oss-meta-") or k.lower() == "content-type"}
        upload_id = self.bucket.init_multipart_upload(dest, headers=keep).upload_id
        size, step = head.content_length, self.config.part_size
        ranges = list(enumerate(range(0, size, step), start=1))

        def copy_part(item: tuple[int, int]) -> Any:
            number, start = item
            end = min(start + step, size) - 1
            result = retrying(
                lambda: self.bucket.upload_part_copy(self.bucket_name, source, (start, end), dest,
                                                     upload_id, number),
                what=f"OSS part copy of '{source}'", attempts=max(1, self.config.retries),
                is_transient=is_transient)
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

        def compute() -> str:  # written by another tool in parts: hash the content
            oss2 = _oss2()
            result = self.bucket.get_object(full)
            digest = hashlib.md5(usedforsecurity=False)
            while chunk := result.read(CHUNK):
                digest.update(chunk)
            oss2.utils.check_crc("get_md5", result.client_crc, result.server_crc, result.request_id)
            return digest.hexdigest()

        return self._call("get_md5", key, compute)

    def delete(self, key: str) -> None:
        """Remove one object (no error if it does not exist)."""
        full = self._full(key)
        self._call("delete", key, lambda: self.bucket.delete_object(full))

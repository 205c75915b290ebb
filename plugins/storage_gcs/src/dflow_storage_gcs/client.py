"""``GCSClient``: dflow's :class:`~dflow.storage.StorageClient` for Google Cloud Storage.

Integrity: uploads send a CRC32C the service checks (resumable ones compare the final
object's; :meth:`GCSClient.open_write` streams through :mod:`._stream_upload`); downloads (:mod:`._download`: one streamed GET, or ranged parts in parallel for
large objects; :meth:`GCSClient.open_read` streams one as ranges pinned to its generation) are
verified against the CRC32C in the ``x-goog-hash`` GCS returns (or in the object's metadata). A mismatch
is retried ``integrity_retries`` times, then raised as :class:`~dflow.storage.IntegrityError`.
Transient errors are retried by the SDK (exponential backoff, for ``retry_timeout`` seconds).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from typing import IO, Any

import attrs
from dflow.storage.client import StorageCapabilities, StorageClient
from dflow.storage.errors import NotFound, StorageError, describe_store
from dflow.storage.parts import finish_or_abort
from dflow.storage.transfer import atomic_file, retrying

from ._download import Downloader, NeedsSDK, parse_hashes
from ._errors import is_corruption, translate
from .config import GCSConfig

GOOGLE_ENDPOINT = "https://storage.googleapis.com"


class _HashingWriter:
    """A write-only sink that hashes what the SDK streams into it."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)

    def write(self, data: bytes) -> int:
        self.md5.update(data)
        return len(data)


def _settle_environment(session: Any, endpoint: str) -> None:
    """Read proxy and CA-bundle variables once instead of on every request.

    requests merges them from ``os.environ`` per request (``trust_env``): with a typical
    environment that is ~0.4 ms of CPU, a third of the client's work for a 100 KiB object.
    The endpoint is fixed, so the answer is too (variables changed later are not seen).
    """
    import requests.utils

    session.proxies.update(requests.utils.get_environ_proxies(endpoint))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False
    # Tree transfers run 16 threads: with requests' default pool of 10 connections per host,
    # every extra thread opened (and threw away) a connection per object, and the bursts of
    # new connections overflowed small servers' accept queues ("connection reset by peer").
    from requests.adapters import HTTPAdapter

    for scheme in ("http://", "https://"):
        session.mount(scheme, HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE))


#: keep-alive connections kept per host (at least the thread count of tree transfers)
POOL_SIZE = 32


class GCSClient(StorageClient):
    """Objects in one GCS bucket, under an optional key prefix.

    ``GCSClient(bucket_name=None, project=None, *, endpoint=None, credentials_file=None,
    prefix="", anonymous=False, ...)``: any :class:`GCSConfig` field as a keyword.
    """

    capabilities = StorageCapabilities(direct_download=True)
    store: str = ""  # set in __init__

    def __init__(
        self,
        bucket_name: str | None = None,
        project: str | None = None,
        *,
        config: GCSConfig | None = None,
        **options: Any,
    ) -> None:
        given: dict[str, Any] = {
            k: v for k, v in dict(bucket_name=bucket_name, project=project).items() if v is not None
        }
        self.config = attrs.evolve(config or GCSConfig(), **given, **options)
        if not self.config.bucket_name:
            from dflow.config import ConfigError

            raise ConfigError(
                "GCS storage: bucket_name is not set; pass GCSClient(bucket_name=...), "
                "set GCS_BUCKET_NAME, or set it in the [storages.gcs] section of dflow.toml"
            )
        endpoint = (self.config.endpoint or GOOGLE_ENDPOINT).rstrip("/")
        self.endpoint = endpoint if "://" in endpoint else f"http://{endpoint}"
        self.bucket_name = self.config.bucket_name
        self.prefix = self.config.prefix
        self.store = describe_store(self.endpoint, self.bucket_name)
        self._client: Any = None
        self._bucket: Any = None
        self._downloader: Downloader | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: GCSConfig) -> GCSClient:
        """The client a ``[storages.gcs]`` configuration section describes."""
        return cls(config=config)

    def __repr__(self) -> str:
        return f"GCSClient(bucket_name={self.bucket_name!r}, endpoint={self.endpoint!r}, prefix={self.prefix!r})"

    # -- SDK objects ------------------------------------------------------------------------
    def _credentials(self) -> Any:
        c = self.config
        if c.credentials_file:
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_file(c.credentials_file)
        if c.anonymous or c.endpoint:  # emulators take no credentials
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()
        return None  # Application Default Credentials, resolved by the SDK

    @property
    def bucket(self) -> Any:
        """The SDK's ``Bucket`` (built on first use, shared by threads)."""
        with self._lock:
            if self._bucket is None:
                from google.cloud import storage

                try:
                    credentials = self._credentials()
                    options = {"api_endpoint": self.endpoint} if self.config.endpoint else None
                    self._client = storage.Client(
                        project=self.config.project, credentials=credentials, client_options=options
                    )
                except Exception as exc:
                    raise translate(exc, op="connect", key="", client=self) from exc
                _settle_environment(self._client._http, self.endpoint)
                self._bucket = self._client.bucket(self.bucket_name)
            return self._bucket

    @property
    def _retry(self) -> Any:
        from google.cloud.storage.retry import DEFAULT_RETRY

        return DEFAULT_RETRY.with_timeout(self.config.retry_timeout)

    def _kw(self) -> dict[str, Any]:
        return {"retry": self._retry, "timeout": self.config.timeout}

    def bucket_exists(self) -> bool:
        """Whether the bucket exists (True when that cannot be told)."""
        try:
            return bool(self.bucket.exists(**self._kw()))
        except Exception:
            return True

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
        try:
            return retrying(
                fn,
                what=f"GCS {op} of '{key}' in {self.store}",
                attempts=1 + max(0, self.config.integrity_retries),
                is_transient=is_corruption,
            )  # the SDK retries network errors
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
        resumable = os.path.getsize(path) >= self.config.resumable_threshold
        # a chunk size makes the SDK upload resumably, resending only unacknowledged chunks;
        # the SDK sends files of 8 MiB or less in one request whatever the chunk size
        chunk_size = self.config.part_size if resumable else None
        self._call(
            "upload",
            key,
            lambda: self.bucket.blob(full, chunk_size=chunk_size).upload_from_filename(
                path, checksum="auto", **self._kw()
            ),
        )

    @contextlib.contextmanager
    def open_write(self, key: str, spool_dir: str | None = None) -> Iterator[IO[bytes]]:
        """Write the object as a stream: a resumable upload fed from memory, chunk by chunk,
        CRC32C-checked (see :mod:`._stream_upload`); no local file, so ``spool_dir`` is unused.
        If the block raises, the upload is cancelled and nothing is stored."""
        from ._stream_upload import StreamWriter

        with finish_or_abort(StreamWriter(self, key)) as writer:
            yield writer  # type: ignore[misc]

    def download(self, key: str, path: str) -> None:
        with atomic_file(path) as tmp:  # readers never see a partial file under ``path``
            self.download_new(key, tmp)

    def download_new(self, key: str, path: str) -> None:
        """Download ``key`` straight into ``path``, a file nobody reads yet (removed on error).

        :func:`dflow.storage.objects.fetch_objects` uses it for trees it stages in a hidden
        directory, saving a temporary file and a rename per object.
        """
        full = self._full(key)

        def fetch() -> None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                self.downloader.fetch(full, fd)
            except NeedsSDK:  # gzip-stored objects: the SDK decodes (and verifies) them
                with os.fdopen(os.dup(fd), "wb") as f:
                    f.truncate(0)
                    self.bucket.blob(full).download_to_file(f, checksum="auto", **self._kw())
            finally:
                os.close(fd)

        try:
            self._call("download", key, fetch)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise

    @contextlib.contextmanager
    def open_read(self, key: str, spool_dir: str | None = None) -> Iterator[IO[bytes]]:
        """Stream the object by parallel ranged GETs pinned to its generation (no spool file).

        A gzip-encoded object (decoded by the SDK) is spooled as the default does.
        """
        full = self._full(key)

        def metadata() -> Any:
            blob = self.bucket.get_blob(full, **self._kw())
            if blob is None:
                from google.api_core.exceptions import NotFound as GoogleNotFound

                raise GoogleNotFound(full)
            return blob

        blob = self._call("download", key, metadata)
        if blob.content_encoding not in (None, "", "identity"):
            with super().open_read(key, spool_dir) as stream:
                yield stream
            return
        with self.downloader.stream(
            full,
            blob.size or 0,
            blob.generation,
            blob.crc32c,
            translate=lambda exc: translate(exc, op="download", key=key, client=self),
        ) as stream:
            yield stream

    @property
    def downloader(self) -> Downloader:
        """The verified streaming downloader, sharing the SDK client's HTTP session."""
        bucket = self.bucket
        with self._lock:
            if self._downloader is None:
                c = self.config
                self._downloader = Downloader(
                    bucket.client._http,
                    self.endpoint,
                    self.bucket_name,
                    retry=self._retry,
                    timeout=c.timeout,
                    workers=c.download_workers,
                    sliced_threshold=c.sliced_download_threshold,
                    part_size=c.download_part_size,
                    hashes_of=self._metadata_hashes,
                )
            return self._downloader

    def _metadata_hashes(self, full: str) -> dict[str, bytes]:
        blob = self.bucket.get_blob(full, **self._kw())
        if blob is None:
            from google.api_core.exceptions import NotFound as GoogleNotFound

            raise GoogleNotFound(full)
        return parse_hashes(
            ",".join(f"{k}={v}" for k, v in (("crc32c", blob.crc32c), ("md5", blob.md5_hash)) if v)
        )

    def list(self, prefix: str, recursive: bool = False) -> list[str]:
        def fetch() -> list[str]:
            pages = self.bucket.client.list_blobs(
                self.bucket_name,
                prefix=self.prefix + prefix,
                delimiter=None if recursive else "/",
                **self._kw(),
            )
            names = [blob.name for blob in pages]  # prefixes are filled in as pages are read
            return names + sorted(pages.prefixes)

        cut = len(self.prefix)
        return sorted(k[cut:] for k in self._call("list", prefix, fetch))

    def copy(self, src: str, dst: str) -> None:
        source, dest = self._full(src), self._full(dst)

        def rewrite() -> None:  # server side; large objects take several calls
            token = None
            while True:
                token, _, _ = self.bucket.blob(dest).rewrite(
                    self.bucket.blob(source), token=token, **self._kw()
                )
                if token is None:
                    return

        self._call("copy", src, rewrite)

    def get_md5(self, key: str) -> str:
        full = self._full(key)
        blob = self._call("get_md5", key, lambda: self.bucket.get_blob(full, **self._kw()))
        if blob is None:
            from google.api_core.exceptions import NotFound as GoogleNotFound

            raise translate(GoogleNotFound(full), op="get_md5", key=key, client=self)
        if blob.md5_hash:
            return base64.b64decode(blob.md5_hash).hex()

        def compute() -> str:  # composite objects carry no MD5: hash the content
            sink = _HashingWriter()
            blob.download_to_file(sink, checksum="auto", **self._kw())
            return sink.md5.hexdigest()

        return self._call("get_md5", key, compute)

    def delete(self, key: str) -> None:
        """Remove one object (no error if it does not exist)."""
        full = self._full(key)
        try:
            self._call("delete", key, lambda: self.bucket.blob(full).delete(**self._kw()))
        except NotFound:
            pass

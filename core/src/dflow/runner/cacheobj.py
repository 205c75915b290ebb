"""What the object-store clients of the step cache share: one keep-alive HTTP connection per
thread with retries (:class:`Transport`), their error, and :func:`open_bucket`, which picks
the store of an ``s3://``, ``oss://`` or ``gs://`` location.

Standard library only (runs in pods and HPC jobs, Python 3.7+). The entry semantics (objects
first, manifest last, damaged entries rewritten, history) are :class:`caches3.BucketStore`'s,
the same for every store; the clients only move bytes.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import ssl
import threading
import time
from typing import Any, BinaryIO, Callable, Iterator, Mapping
from urllib.parse import urlsplit

_BLOCK = 1 << 20
_RETRY = {429, 500, 502, 503, 504}


class StoreError(OSError):
    """A request the store refused (``status``, the store's error ``code``) or that could not
    be sent (status 0); an OSError, as a failing disk would be."""

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status, self.code = status, code


def split_endpoint(endpoint: str, what: str) -> tuple[str, str]:
    """(scheme, host[:port]) of ``http(s)://host[:port]`` (https when no scheme is given)."""
    parts = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} endpoint {endpoint!r} is not http(s)://host[:port]")
    return parts.scheme, parts.netloc


class Transport:
    """Requests to one scheme and host: a keep-alive connection per thread (engines probe in
    threads); a request that fails on a reused connection is sent again on a fresh one, and
    429/5xx answers or connection errors are retried ``attempts`` times in all."""

    def __init__(self, scheme: str, host: str, timeout: float = 60.0, attempts: int = 3) -> None:
        self.scheme, self.host = scheme, host
        self.timeout, self.attempts = timeout, max(1, attempts)
        self._local = threading.local()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self._local, "conn", None)
        # a connection opened before a fork is the parent's (an engine forks its workers
        # after probing): the child opens its own rather than share the socket
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn, True
        if self.scheme == "https":
            ctx = ssl.create_default_context()
            conn = http.client.HTTPSConnection(self.host, timeout=self.timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection(self.host, timeout=self.timeout)
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn, False

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def send(
        self,
        method: str,
        target: str,
        headers: Callable[[], dict],
        body: Any = None,
        sink: BinaryIO | None = None,
        what: str = "",
    ) -> tuple[int, dict, bytes]:
        """(status, lower-cased headers, body) of one request; ``headers()`` is called per
        attempt (signatures carry the time). A 2xx body of a GET goes to ``sink`` when given.
        Only connection failures raise (:class:`StoreError` naming ``what``)."""
        attempt = 0
        while True:
            attempt += 1
            conn, reused = self._connection()
            try:
                if hasattr(body, "seek"):
                    body.seek(0)
                if sink is not None:
                    sink.seek(0)
                    sink.truncate()
                conn.request(method, target, body=body, headers=headers())
                resp = conn.getresponse()
                got = {k.lower(): v for k, v in resp.getheaders()}
                if 200 <= resp.status < 300 and sink is not None and method == "GET":
                    block = resp.read(_BLOCK)
                    while block:
                        sink.write(block)
                        block = resp.read(_BLOCK)
                    data = b""
                else:
                    data = resp.read()
                if got.get("connection", "").lower() == "close":
                    self.close()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if reused:
                    attempt -= 1  # the server closed an idle keep-alive connection
                    continue
                if attempt < self.attempts:
                    time.sleep(0.1 * attempt)
                    continue
                raise StoreError(f"{method} {what or target}: {exc}") from exc
            if resp.status in _RETRY and attempt < self.attempts:
                time.sleep(0.1 * attempt)
                continue
            return resp.status, got, data


class ObjectClient:
    """The operations every store's client answers in terms of its own ``fetch`` (a GET of
    one object into a sink) and ``list_dated``: what :class:`caches3.BucketStore` calls."""

    def fetch(self, bucket: str, key: str, sink: BinaryIO | None = None) -> tuple[int, bytes]:
        """(status, body) of a GET of the object; the body goes to ``sink`` when given."""
        raise NotImplementedError

    def list_dated(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, float]]:
        """(key, size, last modified as epoch seconds) of the objects under ``prefix``."""
        raise NotImplementedError

    def get(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, None when there is none."""
        status, data = self.fetch(bucket, key)
        return None if status == 404 else data

    def download(self, bucket: str, key: str, path: str) -> bool:
        """Write the object to ``path`` (False, and no file, when there is none)."""
        with open(path, "wb") as f:
            status, _data = self.fetch(bucket, key, f)
        if status == 404:
            os.unlink(path)
            return False
        return True

    def list(self, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object whose key starts with ``prefix``."""
        for key, size, _when in self.list_dated(bucket, prefix):
            yield key, size


def file_md5(f: BinaryIO) -> bytes:
    """The MD5 of an open file from its start, left positioned at its end (OSS and GCS check
    an upload against it)."""
    digest = hashlib.md5()
    for block in iter(lambda: f.read(_BLOCK), b""):
        digest.update(block)
    return digest.digest()


def open_bucket(
    root: str, endpoint: str, region: str = "", env: Mapping[str, str] | None = None
) -> Any:
    """The store of the entries at ``root`` (``s3://``, ``oss://`` or ``gs://bucket/prefix``)
    at ``endpoint``, with the credentials in ``env`` (default: this process's environment);
    ``CacheLocationError`` for a location it cannot use."""
    from .caches3 import ACCESS_ENV, SECRET_ENV, CacheLocationError, S3Store

    env = os.environ if env is None else env
    if root.startswith("s3://"):
        return S3Store(root, endpoint, region, env.get(ACCESS_ENV), env.get(SECRET_ENV))
    if root.startswith("oss://"):
        from .oss import open_oss

        return open_oss(root, endpoint, region, env)
    if root.startswith("gs://"):
        from .gcs import open_gcs

        return open_gcs(root, endpoint, env)
    raise CacheLocationError(
        f"cache location {root!r}: only a directory or an s3://, oss:// or gs://bucket/prefix "
        "can hold the step cache (docs/cache.md)"
    )

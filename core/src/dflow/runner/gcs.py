"""A small Google Cloud Storage client for the step cache: the JSON API's object get, media
download, media upload, delete and list by prefix, with a bearer token.

Standard library only (Python 3.7+). The token comes from ``DFLOW_CACHE_GCS_TOKEN``:

- ``metadata``: from the metadata server (GKE Workload Identity, or a GCE node's service
  account), as Google's client libraries do in a pod; fetched again before it expires;
- ``anonymous``: no ``Authorization`` header (an emulator, a public bucket);
- ``file:PATH``: the token in that file, read again when the file changes (the local engine's
  workers: the engine mints a token from the gcs storage's credentials and refreshes the file
  before the token expires, so runs longer than a token's hour keep their cache);
- anything else: that OAuth2 access token;
- unset: no credentials (the step runs uncached, and says so).

After an upload, the MD5 that GCS computed is compared with the body's: an object damaged on
the way is deleted and the upload fails.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import os
import threading
import time
import urllib.request
from typing import Any, BinaryIO, Iterator, Mapping
from urllib.parse import quote, urlencode

from .cacheobj import ObjectClient, StoreError, Transport, file_md5, split_endpoint

TOKEN_ENV = "DFLOW_CACHE_GCS_TOKEN"
ANONYMOUS = "anonymous"
METADATA = "metadata"
FILE_PREFIX = "file:"
GOOGLE = "https://storage.googleapis.com"
#: where a pod asks for its service account's token (GCE_METADATA_HOST moves it, as in
#: Google's libraries)
_METADATA_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"


class MetadataToken:
    """Access tokens of the metadata server, fetched again a minute before they expire."""

    def __init__(self, host: str = "") -> None:
        self.host = host or os.environ.get("GCE_METADATA_HOST") or "metadata.google.internal"
        self._token, self._until = "", 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if time.time() < self._until:
                return self._token
            request = urllib.request.Request(
                f"http://{self.host}{_METADATA_PATH}", headers={"Metadata-Flavor": "Google"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:
                    answer = json.loads(resp.read().decode("utf-8"))
                self._token = str(answer["access_token"])
            except (OSError, ValueError, KeyError) as exc:
                raise StoreError(
                    f"no GCS token: the metadata server at {self.host} did not give one "
                    f"({exc}); set {TOKEN_ENV} (docs/cache.md)"
                ) from exc
            self._until = time.time() + float(answer.get("expires_in", 300)) - 60
            return self._token


class FileToken:
    """The token in a file someone else keeps fresh: read again when the file has changed,
    looking at most every ``every`` seconds."""

    def __init__(self, path: str, every: float = 10.0) -> None:
        self.path, self.every = path, every
        self._token, self._seen, self._next = "", -1, 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                return self._token
            try:
                changed = os.stat(self.path).st_mtime_ns
                if changed != self._seen:
                    with open(self.path, encoding="utf-8") as f:
                        self._token = f.read().strip()
                    self._seen = changed
            except OSError as exc:
                raise StoreError(
                    f"no GCS token: cannot read {self.path} ({exc.strerror or exc}); the engine "
                    f"that started this step keeps it, set {TOKEN_ENV} (docs/cache.md)"
                ) from exc
            self._next = now + self.every
            return self._token


class GCS(ObjectClient):
    """JSON API requests to ``endpoint`` (Google's, or an emulator's) with ``token()``'s
    bearer token ("" sends none)."""

    def __init__(
        self, endpoint: str = GOOGLE, token: Any = None, timeout: float = 60.0, attempts: int = 3
    ) -> None:
        scheme, host = split_endpoint(endpoint or GOOGLE, "GCS")
        self.endpoint = f"{scheme}://{host}"
        self.token = token or (lambda: "")
        self.transport = Transport(scheme, host, timeout, attempts)

    def close(self) -> None:
        self.transport.close()

    def request(
        self,
        method: str,
        path: str,
        query: dict | None = None,
        body: Any = None,
        size: int = 0,
        sink: Any = None,
        where: str = "",
    ) -> tuple[int, dict, bytes]:
        """(status, headers, body); statuses of 300 and up other than 404 raise
        :class:`StoreError` naming ``where`` (``gs://bucket/key``)."""
        target = path + ("?" + urlencode(query) if query else "")
        host = self.transport.host

        def headers() -> dict:
            sent = {"Host": host}
            token = self.token()
            if token:
                sent["Authorization"] = f"Bearer {token}"
            if method in ("POST", "PUT"):
                sent["Content-Length"] = str(size)
                sent["Content-Type"] = "application/octet-stream"
            return sent

        where = f"{where} at {self.endpoint}"
        status, got, data = self.transport.send(method, target, headers, body, sink, where)
        if status >= 300 and status != 404:
            message = _error(data)
            raise StoreError(f"{method} {where}: {status} {message}".rstrip(), status)
        return status, got, data

    @staticmethod
    def _object(bucket: str, key: str) -> str:
        return f"/storage/v1/b/{quote(bucket, safe='')}/o/{quote(key, safe='')}"

    # -- operations (as dflow.runner.s3.S3 has them) ------------------------------------
    def fetch(self, bucket: str, key: str, sink: BinaryIO | None = None) -> tuple[int, bytes]:
        where = f"gs://{bucket}/{key}"
        query = {"alt": "media"}
        status, _h, data = self.request(
            "GET", self._object(bucket, key), query, sink=sink, where=where
        )
        return status, data

    def size(self, bucket: str, key: str) -> int | None:
        where = f"gs://{bucket}/{key}"
        query = {"fields": "size"}
        status, _h, data = self.request("GET", self._object(bucket, key), query, where=where)
        return None if status == 404 else int(json.loads(data.decode("utf-8"))["size"])

    def _insert(self, bucket: str, key: str, body: Any, size: int, md5: bytes) -> None:
        where = f"gs://{bucket}/{key}"
        path = f"/upload/storage/v1/b/{quote(bucket, safe='')}/o"
        query = {"uploadType": "media", "name": key}
        _s, _h, data = self.request("POST", path, query, body, size, where=where)
        stored = json.loads(data.decode("utf-8")).get("md5Hash", "")
        if stored and base64.b64decode(stored) != md5:
            self.delete(bucket, key)
            raise StoreError(f"POST {where}: the stored object's MD5 is not the body's")

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self._insert(bucket, key, data, len(data), hashlib.md5(data).digest())

    def upload(self, bucket: str, key: str, path: str, sha256: str, size: int) -> None:
        """Upload the file at ``path``; GCS's MD5 of what it stored is checked."""
        with open(path, "rb") as f:
            self._insert(bucket, key, f, size, file_md5(f))

    def delete(self, bucket: str, key: str) -> None:
        self.request("DELETE", self._object(bucket, key), where=f"gs://{bucket}/{key}")

    def list_dated(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, float]]:
        """(name, size, updated) of the objects under ``prefix``, page by page."""
        path = f"/storage/v1/b/{quote(bucket, safe='')}/o"
        token = ""
        while True:
            query = {"prefix": prefix, "fields": "items(name,size,updated),nextPageToken"}
            if token:
                query["pageToken"] = token
            status, _h, data = self.request("GET", path, query, where=f"gs://{bucket}/{prefix}")
            if status == 404:
                raise StoreError(f"bucket gs://{bucket} does not exist at {self.endpoint}", 404)
            page = json.loads(data.decode("utf-8"))
            for item in page.get("items") or []:
                when = _epoch(str(item.get("updated", "")))
                yield str(item["name"]), int(item.get("size") or 0), when
            token = page.get("nextPageToken") or ""
            if not token:
                return


def _error(data: bytes) -> str:
    """The message of a JSON API error (``{"error": {"message": ...}}``), or the body."""
    try:
        found = json.loads(data.decode("utf-8"))["error"]
        return str(found.get("message") or found) if isinstance(found, dict) else str(found)
    except (ValueError, KeyError, TypeError):
        return data[:200].decode("utf-8", "replace")


def _epoch(stamp: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return 0.0


def open_gcs(root: str, endpoint: str, env: Mapping[str, str]) -> Any:
    """The entries at ``gs://bucket/prefix``, with the token ``env`` says (module docstring)."""
    from .caches3 import BucketStore, CacheLocationError

    given = env.get(TOKEN_ENV)
    if not given:
        raise CacheLocationError(
            f"cache location {root}: no credentials: {TOKEN_ENV} is not set where the step "
            "runs (the engines set it from the gcs storage's configuration; see docs/cache.md)"
        )
    if given == ANONYMOUS:
        token: Any = None
    elif given == METADATA:
        token = MetadataToken()
    elif given.startswith(FILE_PREFIX):
        token = FileToken(given[len(FILE_PREFIX) :])
    else:
        token = lambda: given  # noqa: E731 - a fixed token
    return BucketStore(root, GCS(endpoint or GOOGLE, token))

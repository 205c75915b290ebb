"""Lean PUT/GET of one object: oss2 builds and signs the request, ``http.client`` sends it.

For objects of ~100 KB, requests + urllib3 cost more client CPU than the transfer itself
(environment proxy and netrc look-ups, adapters, hooks: about a millisecond a call), which
caps a thread pool moving many small files on a small machine. Here each thread keeps one
keep-alive ``http.client`` connection; URLs, signatures (V1 and V4) and error objects stay
oss2's own, so the requests OSS sees and the exceptions callers get are the same as through
``oss2.Bucket``. Not used with a proxy (requests handles those).
"""

from __future__ import annotations

import http.client
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

#: an idle keep-alive connection the server closed shows up as one of these on reuse
_STALE = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    http.client.CannotSendRequest,
)


class _Answer:
    """The bits of ``oss2.http.Response`` that oss2's ``make_exception`` reads."""

    def __init__(self, resp: http.client.HTTPResponse) -> None:
        self.status = resp.status
        self.headers = resp.headers  # case-insensitive ``get``
        self.request_id = resp.headers.get("x-oss-request-id", "")
        self._resp = resp

    def read(self, amt: int | None = None) -> bytes:
        return self._resp.read(amt)


class LeanObjects:
    """PUT and GET of single objects in ``bucket`` (an ``oss2.Bucket``) on per-thread connections."""

    def __init__(self, bucket: Any, timeout: float) -> None:
        self.bucket = bucket
        self.timeout = timeout
        parts = urlsplit(bucket.endpoint)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._local = threading.local()
        self._ssl: ssl.SSLContext | None = None
        if self._https:
            import certifi  # requests' CA bundle, so both paths trust the same roots

            self._ssl = ssl.create_default_context(cafile=certifi.where())

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            if self._https:
                conn = http.client.HTTPSConnection(
                    self._netloc, timeout=self.timeout, context=self._ssl
                )
            else:
                conn = http.client.HTTPConnection(self._netloc, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def discard(self) -> None:
        """Close this thread's connection (after a response body that was not read to the end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _send(
        self, method: str, key: str, body: bytes | list[bytes] | None, headers: dict[str, str]
    ) -> http.client.HTTPResponse:
        import oss2

        b = self.bucket
        req = oss2.http.Request(
            method,
            b._make_url(b.bucket_name, key),
            data=body,
            headers=headers,
            app_name=b.app_name,
            region=b.region,
            product=b.product,
            cloudbox_id=b.cloudbox_id,
        )
        b.auth._sign_request(req, b.bucket_name, key)
        split = urlsplit(req.url)
        target = split.path + ("?" + split.query if split.query else "")
        send_headers = {k: v for k, v in req.headers.items() if v is not None}
        for attempt in (1, 2):
            conn = self._connection(fresh=attempt == 2)
            try:
                conn.request(method, target, body=body, headers=send_headers)
                resp = conn.getresponse()
            except _STALE as exc:
                if attempt == 1:
                    continue  # a kept-alive connection the server had closed: once more, anew
                self.discard()
                raise oss2.exceptions.RequestError(exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                self.discard()
                raise oss2.exceptions.RequestError(exc) from exc
            if resp.status // 100 != 2:
                error = oss2.exceptions.make_exception(_Answer(resp))
                if not resp.isclosed():
                    resp.read()  # error bodies are small: read them so the connection stays usable
                raise error
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def put(self, key: str, chunks: list[bytes], headers: dict[str, str]) -> tuple[int | None, str]:
        """PUT the concatenated ``chunks`` (sent one after the other, not joined); return (the
        CRC-64 OSS reports, request id)."""
        import oss2

        headers = oss2.utils.set_content_type(dict(headers), key)  # as oss2's put_object does
        # given, so http.client sends the list as one body rather than chunked encoding
        headers["Content-Length"] = str(sum(len(c) for c in chunks))
        resp = self._send("PUT", key, chunks, headers)
        resp.read()
        crc = resp.headers.get("x-oss-hash-crc64ecma")
        return (int(crc) if crc else None), resp.headers.get("x-oss-request-id", "")

    def get(self, key: str) -> http.client.HTTPResponse:
        """GET the whole object; the caller reads the body to the end (or calls :meth:`discard`)."""
        return self._send("GET", key, None, {})

"""A small S3 client for the step cache: GET, HEAD, PUT, DELETE and list by prefix.

Standard library only (runs in pods and HPC jobs, Python 3.7+, where boto3 may be absent).
Requests are signed with AWS Signature Version 4 (header signing, path-style addressing); a
PUT signs the sha256 of its body, so the server refuses a body damaged on the way. One
keep-alive connection per client and thread; a request that fails on a reused connection is
sent again on a fresh one, and 429/5xx or connection errors are retried a few times
(:class:`dflow.runner.cacheobj.Transport`, shared with the OSS and GCS clients).
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import re
import time
import xml.etree.ElementTree as ET
from typing import Any, BinaryIO, Iterator
from urllib.parse import quote

from .cacheobj import ObjectClient, StoreError, Transport, split_endpoint

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_NS = re.compile(r"^\{[^}]*\}")


class S3Error(StoreError):
    """A request the server refused (``status``, S3 ``code``) or could not be sent (status 0);
    an OSError, as a failing disk would be."""


# -- Signature Version 4 -------------------------------------------------------------------


def _uri_encode(text: str, safe: str = "-_.~") -> str:
    return quote(text, safe=safe)


def canonical_query(query: dict) -> str:
    """The canonical query string: names and values URI-encoded, sorted by name."""
    pairs = sorted((_uri_encode(str(k)), _uri_encode(str(v))) for k, v in query.items())
    return "&".join(f"{k}={v}" for k, v in pairs)


@functools.lru_cache(maxsize=16)  # one key per day and scope: 4 HMACs saved per request
def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode("utf-8")
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def sign(
    method: str,
    path: str,
    query: dict,
    headers: dict,
    payload_sha256: str,
    access_key: str,
    secret_key: str,
    region: str,
    service: str,
    amz_date: str,
) -> str:
    """The ``Authorization`` header of a request.

    ``path`` is already URI-encoded (S3 signs it as sent, without encoding it twice);
    ``headers`` are every header to sign (``host`` and ``x-amz-date`` included): names are
    lower-cased and sorted, values trimmed with inner runs of spaces folded to one.
    """
    values = {}
    for name, value in headers.items():
        values[name.lower()] = " ".join(str(value).split())
    names = sorted(values)
    signed = ";".join(names)
    canonical = "\n".join(
        [
            method,
            path or "/",
            canonical_query(query),
            "".join(f"{n}:{values[n]}\n" for n in names),
            signed,
            payload_sha256,
        ]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        ]
    )
    key = signing_key(secret_key, amz_date[:8], region, service)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )


# -- the client ------------------------------------------------------------------------------


class S3(ObjectClient):
    """Path-style requests to ``endpoint`` (``http(s)://host[:port]``) as ``access_key``."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        session_token: str = "",
        timeout: float = 60.0,
        attempts: int = 3,
    ) -> None:
        self.scheme, self.host = split_endpoint(endpoint, "S3")
        self.endpoint = f"{self.scheme}://{self.host}"
        self.access_key, self._secret, self.region = access_key, secret_key, region
        self.session_token = session_token
        # a keep-alive connection per thread (engines probe in threads), retries
        self.transport = Transport(self.scheme, self.host, timeout, attempts)

    def close(self) -> None:
        self.transport.close()

    def request(
        self,
        method: str,
        bucket: str,
        key: str = "",
        query: dict | None = None,
        body: Any = None,
        payload_sha256: str = EMPTY_SHA256,
        size: int = 0,
        sink: BinaryIO | None = None,
    ) -> tuple[int, dict, bytes]:
        """(status, headers, body) of one request; a 2xx body goes to ``sink`` when given.
        Statuses of 300 and up other than 404 raise :class:`S3Error`."""
        path = "/" + _uri_encode(bucket) + ("/" + _uri_encode(key, "-_.~/") if key else "")
        query = query or {}
        target = path + ("?" + canonical_query(query) if query else "")

        def headers() -> dict:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            sent = {
                "host": self.host,
                "x-amz-date": stamp,
                "x-amz-content-sha256": payload_sha256,
            }
            if self.session_token:
                sent["x-amz-security-token"] = self.session_token
            if method == "PUT":
                sent["content-length"] = str(size)
            sent["Authorization"] = sign(
                method,
                path,
                query,
                sent,
                payload_sha256,
                self.access_key,
                self._secret,
                self.region,
                "s3",
                stamp,
            )
            return sent

        where = f"{self.endpoint}{target}"
        try:
            status, got, data = self.transport.send(method, target, headers, body, sink, where)
        except StoreError as exc:
            raise S3Error(str(exc)) from exc.__cause__
        if status >= 300 and status != 404:
            code, message = _error(data)
            raise S3Error(f"{method} {where}: {status} {code} {message}".rstrip(), status, code)
        return status, got, data

    # -- operations ---------------------------------------------------------------------
    def fetch(self, bucket: str, key: str, sink: BinaryIO | None = None) -> tuple[int, bytes]:
        status, _h, data = self.request("GET", bucket, key, sink=sink)
        return status, data

    def head(self, bucket: str, key: str) -> dict | None:
        """The object's headers (``content-length`` ...), None when there is none."""
        status, headers, _d = self.request("HEAD", bucket, key)
        return None if status == 404 else headers

    def size(self, bucket: str, key: str) -> int | None:
        """The object's size in bytes, None when there is none."""
        head = self.head(bucket, key)
        return None if head is None else int(head.get("content-length", -1))

    def put(self, bucket: str, key: str, data: bytes) -> None:
        sha = hashlib.sha256(data).hexdigest()
        self.request("PUT", bucket, key, body=data, payload_sha256=sha, size=len(data))

    def upload(self, bucket: str, key: str, path: str, sha256: str, size: int) -> None:
        """PUT the file at ``path`` whose content digest is ``sha256`` (the server checks it)."""
        with open(path, "rb") as f:
            self.request("PUT", bucket, key, body=f, payload_sha256=sha256, size=size)

    def delete(self, bucket: str, key: str) -> None:
        self.request("DELETE", bucket, key)

    def list_dated(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, float]]:
        """(key, size, last modified as epoch seconds) of the objects under ``prefix``."""
        token = ""
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            status, _h, data = self.request("GET", bucket, query=query)
            if status == 404:
                raise S3Error(f"bucket {bucket!r} does not exist at {self.endpoint}", 404)
            root = ET.fromstring(data)
            token = ""
            for node in root:
                tag = _NS.sub("", node.tag)
                if tag == "Contents":
                    fields = {_NS.sub("", c.tag): c.text or "" for c in node}
                    when = _epoch(fields.get("LastModified", ""))
                    yield fields.get("Key", ""), int(fields.get("Size") or 0), when
                elif tag == "NextContinuationToken":
                    token = node.text or ""
            if not token:
                return


def _error(data: bytes) -> tuple[str, str]:
    """(Code, Message) of an S3 error document."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return "", data[:200].decode("utf-8", "replace")
    fields = {_NS.sub("", c.tag): c.text or "" for c in root}
    return fields.get("Code", ""), fields.get("Message", "")


def _epoch(stamp: str) -> float:
    """Seconds since the epoch of an S3 ``LastModified`` (``2026-01-02T03:04:05.000Z``)."""
    try:
        return float(calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return 0.0

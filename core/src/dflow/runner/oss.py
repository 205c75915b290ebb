"""A small Aliyun OSS client for the step cache: GET, HEAD, PUT, DELETE and list by prefix.

Standard library only (Python 3.7+). Requests are signed with OSS signature V4
(``OSS4-HMAC-SHA256``) when a region is given, else V1 (``OSS ak:signature``, HMAC-SHA1), as
Aliyun documents them ("Include a V4/V1 signature in the Authorization header"). Every PUT
carries its body's ``Content-MD5``, which OSS checks, so a body damaged on the way is refused.
Buckets are addressed virtual-host style (``bucket.oss-cn-hangzhou.aliyuncs.com``), or
path-style for an IP or ``localhost`` endpoint (as oss2 does); either way the signed resource
is ``/bucket/key``.
"""

from __future__ import annotations

import base64
import calendar
import email.utils
import hashlib
import hmac
import ipaddress
import re
import time
import xml.etree.ElementTree as ET
from typing import Any, BinaryIO, Iterator, Mapping
from urllib.parse import quote, urlsplit

from .cacheobj import ObjectClient, StoreError, Transport, file_md5, split_endpoint

ACCESS_ENV = "DFLOW_CACHE_OSS_ACCESS_KEY"
SECRET_ENV = "DFLOW_CACHE_OSS_SECRET_KEY"
TOKEN_ENV = "DFLOW_CACHE_OSS_SECURITY_TOKEN"
_NS = re.compile(r"^\{[^}]*\}")
# the query parameters V1 signs (of those this client sends): OSS's sub-resources
_V1_SIGNED = ("continuation-token",)


def sign_v1(method: str, resource: str, headers: dict, query: dict, secret: str) -> str:
    """The V1 signature (base64 HMAC-SHA1) of a request to ``resource`` (``/bucket/key``,
    not URI-encoded); ``headers`` hold ``Content-MD5``, ``Content-Type``, ``Date`` and the
    ``x-oss-*`` headers sent."""
    lower = {k.lower(): str(v).strip() for k, v in headers.items()}
    oss = "".join(f"{k}:{lower[k]}\n" for k in sorted(lower) if k.startswith("x-oss-"))
    sub = sorted((k, v) for k, v in query.items() if k in _V1_SIGNED)
    if sub:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in sub)
    date = lower.get("x-oss-date") or lower.get("date", "")
    text = "\n".join(
        [method, lower.get("content-md5", ""), lower.get("content-type", ""), date, oss + resource]
    )
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _enc(text: str, safe: str = "-_.~") -> str:
    return quote(text, safe=safe)


def sign_v4(
    method: str,
    resource: str,
    headers: dict,
    query: dict,
    access_key: str,
    secret: str,
    region: str,
    stamp: str,
) -> str:
    """The V4 ``Authorization`` header: the canonical request signs the URI-encoded
    resource, every query parameter, the ``x-oss-*``, ``content-type`` and ``content-md5``
    headers, and ``UNSIGNED-PAYLOAD`` (the body is covered by ``Content-MD5``)."""
    lower = {k.lower(): str(v).strip() for k, v in headers.items()}
    signed = sorted(
        k for k in lower if k.startswith("x-oss-") or k in ("content-type", "content-md5")
    )
    pairs = sorted((_enc(str(k)), _enc(str(v))) for k, v in query.items())
    canonical = "\n".join(
        [
            method,
            _enc(resource, "-_.~/"),
            "&".join(f"{k}={v}" if v else k for k, v in pairs),
            "".join(f"{k}:{lower[k]}\n" for k in signed),
            "",  # no additional headers
            lower.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
        ]
    )
    scope = f"{stamp[:8]}/{region}/oss/aliyun_v4_request"
    to_sign = "\n".join(
        [
            "OSS4-HMAC-SHA256",
            stamp,
            scope,
            hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        ]
    )
    key = ("aliyun_v4" + secret).encode("utf-8")
    for part in (stamp[:8], region, "oss", "aliyun_v4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"OSS4-HMAC-SHA256 Credential={access_key}/{scope}, Signature={signature}"


def _path_style(host: str) -> bool:
    """Whether ``host`` is an IP address or localhost (no bucket subdomain there)."""
    name = urlsplit("//" + host).hostname or ""
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class OSS(ObjectClient):
    """Requests to the OSS ``endpoint`` as ``access_key`` (V4 with ``region``, else V1)."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        region: str = "",
        security_token: str = "",
        timeout: float = 60.0,
        attempts: int = 3,
    ) -> None:
        self.scheme, self.host = split_endpoint(endpoint, "OSS")
        self.endpoint = f"{self.scheme}://{self.host}"
        self.access_key, self._secret, self.region = access_key, secret_key, region
        self.security_token = security_token
        self.path_style = _path_style(self.host)
        self.timeout, self.attempts = timeout, attempts
        self._transports: dict = {}

    def _transport(self, bucket: str) -> Transport:
        host = self.host if self.path_style else f"{bucket}.{self.host}"
        if host not in self._transports:
            self._transports[host] = Transport(self.scheme, host, self.timeout, self.attempts)
        return self._transports[host]

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()

    def request(
        self,
        method: str,
        bucket: str,
        key: str = "",
        query: dict | None = None,
        body: Any = None,
        md5: bytes = b"",
        size: int = 0,
        sink: Any = None,
        name: str = "",
    ) -> tuple[int, dict, bytes]:
        """(status, headers, body); statuses of 300 and up other than 404 raise
        :class:`StoreError`, which names the object (or ``name``) as ``oss://bucket/key``."""
        query = query or {}
        path = "/" + _enc(key, "-_.~/") if key else "/"
        if self.path_style:
            path = "/" + _enc(bucket) + path
        target = path + ("?" + "&".join(f"{_enc(k)}={_enc(v)}" for k, v in query.items()))
        target = target.rstrip("?")
        resource = f"/{bucket}/{key}"
        transport = self._transport(bucket)
        where = f"oss://{bucket}/{name or key} at {self.endpoint}"

        def headers() -> dict:
            now = time.time()
            sent = {"Host": transport.host}
            if method == "PUT":
                sent["Content-Length"] = str(size)
                sent["Content-Type"] = "application/octet-stream"
                sent["Content-MD5"] = base64.b64encode(md5).decode("ascii")
            if self.security_token:
                sent["x-oss-security-token"] = self.security_token
            if self.region:
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
                sent["x-oss-date"] = stamp
                sent["x-oss-content-sha256"] = "UNSIGNED-PAYLOAD"
                sent["Authorization"] = sign_v4(
                    method, resource, sent, query, self.access_key, self._secret, self.region, stamp
                )
            else:
                sent["Date"] = email.utils.formatdate(now, usegmt=True)
                signature = sign_v1(method, resource, sent, query, self._secret)
                sent["Authorization"] = f"OSS {self.access_key}:{signature}"
            return sent

        status, got, data = transport.send(method, target, headers, body, sink, where)
        if status >= 300 and status != 404:
            code, message = _error(data, got)
            raise StoreError(f"{method} {where}: {status} {code} {message}".rstrip(), status, code)
        return status, got, data

    # -- operations (as dflow.runner.s3.S3 has them) ------------------------------------
    def fetch(self, bucket: str, key: str, sink: BinaryIO | None = None) -> tuple[int, bytes]:
        status, _h, data = self.request("GET", bucket, key, sink=sink)
        return status, data

    def size(self, bucket: str, key: str) -> int | None:
        status, headers, _d = self.request("HEAD", bucket, key)
        return None if status == 404 else int(headers.get("content-length", -1))

    def put(self, bucket: str, key: str, data: bytes) -> None:
        md5 = hashlib.md5(data).digest()
        self.request("PUT", bucket, key, body=data, md5=md5, size=len(data))

    def upload(self, bucket: str, key: str, path: str, sha256: str, size: int) -> None:
        """PUT the file at ``path`` (its MD5 goes along, and OSS checks it)."""
        with open(path, "rb") as f:
            self.request("PUT", bucket, key, body=f, md5=file_md5(f), size=size)

    def delete(self, bucket: str, key: str) -> None:
        self.request("DELETE", bucket, key)

    def list_dated(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, float]]:
        """(key, size, last modified) under ``prefix`` (ListObjectsV2, 1000 a page)."""
        token = ""
        while True:
            query = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
            if token:
                query["continuation-token"] = token
            status, _h, data = self.request("GET", bucket, query=query, name=prefix)
            if status == 404:
                raise StoreError(f"bucket oss://{bucket} does not exist at {self.endpoint}", 404)
            token = ""
            for node in ET.fromstring(data):
                tag = _NS.sub("", node.tag)
                if tag == "Contents":
                    fields = {_NS.sub("", c.tag): c.text or "" for c in node}
                    when = _epoch(fields.get("LastModified", ""))
                    yield fields.get("Key", ""), int(fields.get("Size") or 0), when
                elif tag == "NextContinuationToken":
                    token = node.text or ""
            if not token:
                return


def _error(data: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
    """(Code, Message) of an OSS error: the XML body, or a HEAD's base64 ``x-oss-err``."""
    if not data and headers.get("x-oss-err"):
        try:
            data = base64.b64decode(headers["x-oss-err"])
        except ValueError:
            pass
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return "", data[:200].decode("utf-8", "replace")
    fields = {_NS.sub("", c.tag): c.text or "" for c in root}
    return fields.get("Code", ""), fields.get("Message", "")


def _epoch(stamp: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return 0.0


def open_oss(root: str, endpoint: str, region: str, env: Mapping[str, str]) -> Any:
    """The entries at ``oss://bucket/prefix``, with the credentials in ``env``."""
    from .caches3 import BucketStore, CacheLocationError

    access, secret = env.get(ACCESS_ENV), env.get(SECRET_ENV)
    if not access or not secret:
        raise CacheLocationError(
            f"cache location {root}: no credentials: {ACCESS_ENV} and {SECRET_ENV} are not "
            "set where the step runs (the engines set them from the oss storage's "
            "configuration; see docs/cache.md)"
        )
    if not endpoint:
        raise CacheLocationError(f"cache location {root}: no OSS endpoint given")
    client = OSS(endpoint, access, secret, region, env.get(TOKEN_ENV, ""))
    return BucketStore(root, client)

"""A small Aliyun OSS protocol server for testing dflow's OSS client on loopback.

It tests OUR client (``dflow_storage_oss.OSSClient`` over oss2) against the documented OSS REST
protocol as oss2 speaks it; it is not Aliyun's server and says nothing about Aliyun's behaviour
beyond what the protocol documents. What it implements, and checks as OSS does:

* path-style addressing (``/<bucket>/<url-quoted key>``), which oss2 uses for IP endpoints;
* signatures: V1 (``OSS <ak>:<base64 HMAC-SHA1>``) and V4 (``OSS4-HMAC-SHA256``), rejecting an
  unknown key id (``InvalidAccessKeyId``) and a wrong secret (``SignatureDoesNotMatch``);
* ``x-oss-hash-crc64ecma`` (CRC-64/ECMA, as oss2 computes it) on put, get, head, parts, complete;
* ``Content-MD5`` verification (``InvalidDigest``) and MD5 ETags for single-part objects;
* errors as OSS XML bodies, and the base64 ``x-oss-err`` header for HEAD;
* PutObject, GetObject (Range, If-Match), HeadObject, DeleteObject, DeleteMultipleObjects,
  ListObjects v1 and v2 (prefix, delimiter, paging, ``encoding-type=url``), CopyObject,
  multipart (initiate, upload part, upload part copy, list parts, complete, abort, and
  ListMultipartUploads with prefix, delimiter, markers and paging), PutBucket and GetBucketInfo.

Fault injection for tests: :meth:`OSSServer.corrupt_next_gets` flips a byte in the next object
bodies sent (the CRC header still describes the stored data); :meth:`OSSServer.corrupt_next_puts`
flips a byte of the next PutObject / UploadPart bodies received, as a damaged network would
(before ``Content-MD5`` is checked and the CRC computed); :meth:`OSSServer.fail_next`
answers the next requests with ``503 ServiceUnavailable``. Run as a process
(``python oss_server.py --port 0`` prints ``READY <port>``; ``OSSServerProcess`` in conftest.py
starts it), the same switches are the unsigned control paths ``POST /_dflow_test/corrupt?count=N``,
``POST /_dflow_test/corrupt-put?count=N`` and ``POST /_dflow_test/fail?count=N``.
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import hashlib
import hmac
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.etree import ElementTree

import attrs
import crcmod

_CRC64_POLY = 0x142F0E1EBA9EA3693
_CRC64_XOROUT = 0xFFFFFFFFFFFFFFFF
# Sub-resources that take part in the V1 string to sign (the OSS V1 signing rules).
_V1_SUBRESOURCES = frozenset(
    "acl uploads location cors logging website referer lifecycle delete append tagging objectMeta "
    "uploadId partNumber security-token position img style styleName replication "
    "replicationProgress replicationLocation cname bucketInfo comp qos live status vod startTime "
    "endTime symlink x-oss-process response-content-type response-content-language "
    "response-expires response-cache-control response-content-disposition "
    "response-content-encoding udf udfName udfImage udfId udfImageDesc udfApplication "
    "udfApplicationLog restore callback callback-var policy stat encryption versions versioning "
    "versionId requestPayment x-oss-request-payer sequential inventory inventoryId "
    "continuation-token asyncFetch worm wormId wormExtend".split()
)


def crc64_reference(data: bytes) -> int:
    """CRC-64/ECMA of ``data`` as oss2 computes it (crcmod: the definition, ~0.4 GB/s)."""
    crc = crcmod.Crc(_CRC64_POLY, initCrc=0, rev=True, xorOut=_CRC64_XOROUT)
    crc.update(data)
    return crc.crcValue


try:  # the same function at memory speed: the server's hashing should not bound benchmarks
    from fastcrc import crc64 as _fastcrc64
except ImportError:  # pragma: no cover - fastcrc comes with dflow-storage-oss
    _fastcrc64 = None


def crc64(data: bytes) -> int:
    """CRC-64/ECMA of ``data`` as OSS reports it in ``x-oss-hash-crc64ecma``."""
    return _fastcrc64.xz(data) if _fastcrc64 is not None else crc64_reference(data)


def _crc64_from(data: bytes, crc: int) -> int:
    """CRC-64 of ``data`` continued from ``crc`` (the CRC of what came before)."""
    if _fastcrc64 is not None:
        return _fastcrc64.xz(data, initial=crc)
    state = crcmod.Crc(_CRC64_POLY, initCrc=0, rev=True, xorOut=_CRC64_XOROUT)
    state.crcValue = crc
    state.update(data)
    return state.crcValue


def crc64_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-64 of ``A + B`` from ``crc64(A)``, ``crc64(B)`` and ``len(B)``.

    The CRC is affine in its starting value: the part that depends on ``crc1`` is the CRC of
    ``len2`` zero bytes continued from ``crc1``, less the same continued from 0.
    """
    if len2 == 0:
        return crc1
    zeros = bytes(len2)
    return _crc64_from(zeros, crc1) ^ _crc64_from(zeros, 0) ^ crc2


class _Parts:
    """An object's bytes kept as the parts it was uploaded in: completing copies nothing."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = [c for c in chunks if len(c)]
        self.size = sum(len(c) for c in self.chunks)

    def __len__(self) -> int:
        return self.size


def _views(data: bytes | _Parts, start: int, stop: int) -> list[memoryview]:
    """Views of ``data[start:stop]`` (no copies), one per part it spans."""
    chunks = data.chunks if isinstance(data, _Parts) else [data]
    views, offset = [], 0
    for chunk in chunks:
        lo, hi = max(start - offset, 0), min(stop - offset, len(chunk))
        if lo < hi:
            views.append(memoryview(chunk)[lo:hi])
        offset += len(chunk)
    return views


def _http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def _iso_date(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


@attrs.define
class _Object:
    data: bytes | _Parts
    etag: str
    content_type: str
    meta: dict[str, str]
    mtime: float
    crc: int
    kind: str = "Normal"


@attrs.define
class _Upload:
    bucket: str
    key: str
    content_type: str
    meta: dict[str, str]
    initiated: float = attrs.Factory(time.time)
    #: part number -> (data, MD5 ETag, mtime, CRC-64)
    parts: dict[int, tuple[bytes, str, float, int]] = attrs.Factory(dict)


class OSSError(Exception):
    """An OSS error answer: HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class OSSServer:
    """The in-memory state of the server: credentials, buckets, uploads, pending faults."""

    def __init__(
        self,
        access_key_id: str = "dflow-test-ak",
        access_key_secret: str = "dflow-test-secret",
        buckets: tuple[str, ...] = ("dflow-test",),
        region: str = "cn-dflow-test",
    ) -> None:
        self.credentials = {access_key_id: access_key_secret}
        self.region = region
        self.buckets: dict[str, dict[str, _Object]] = {b: {} for b in buckets}
        self.uploads: dict[str, _Upload] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path?query) of each request seen
        self.lock = threading.RLock()
        self._corrupt = 0
        self._corrupt_put = 0
        self._fail = 0

    # -- fault injection ------------------------------------------------------------------
    def corrupt_next_gets(self, count: int = 1) -> None:
        """Flip one byte in the body of the next ``count`` GetObject answers."""
        with self.lock:
            self._corrupt = count

    def corrupt_next_puts(self, count: int = 1) -> None:
        """Flip one byte in the body of the next ``count`` PutObject / UploadPart requests."""
        with self.lock:
            self._corrupt_put = count

    def fail_next(self, count: int = 1) -> None:
        """Answer the next ``count`` requests with 503 ServiceUnavailable."""
        with self.lock:
            self._fail = count

    def take_fault(self, kind: str) -> bool:
        with self.lock:
            left = getattr(self, kind)
            if left > 0:
                setattr(self, kind, left - 1)
                return True
            return False

    # -- signatures -----------------------------------------------------------------------
    def check_signature(self, method: str, bucket: str, key: str, params: list, headers) -> None:
        auth = headers.get("Authorization")
        if not auth:
            raise OSSError(403, "AccessDenied", "You have no right to access this object.")
        if auth.startswith("OSS4-HMAC-SHA256 "):
            return self._check_v4(method, bucket, key, params, headers, auth)
        if not auth.startswith("OSS "):
            raise OSSError(
                400, "InvalidArgument", f"Unsupported Authorization header {auth[:20]!r}"
            )
        access_key_id, _, signature = auth[4:].rpartition(":")
        secret = self._secret(access_key_id)
        sub = sorted((k, v) for k, v in params if k in _V1_SUBRESOURCES)
        resource = f"/{bucket}/{key}" if bucket else "/"
        if sub:
            resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in sub)
        oss_headers = sorted(
            (k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-oss-")
        )
        to_sign = "\n".join(
            [
                method,
                headers.get("Content-MD5", ""),
                headers.get("Content-Type", ""),
                headers.get("x-oss-date", "") or headers.get("Date", ""),
                "".join(f"{k}:{v}\n" for k, v in oss_headers) + resource,
            ]
        )
        digest = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), signature):
            raise OSSError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                StringToSign=to_sign,
            )

    def _secret(self, access_key_id: str) -> str:
        secret = self.credentials.get(access_key_id)
        if secret is None:
            raise OSSError(
                403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist."
            )
        return secret

    def _check_v4(self, method, bucket, key, params, headers, auth) -> None:
        fields = dict(
            part.strip().split("=", 1) for part in auth[len("OSS4-HMAC-SHA256 ") :].split(",")
        )
        access_key_id, date, region, product, _ = fields["Credential"].split("/")
        secret = self._secret(access_key_id)
        additional = [h for h in fields.get("AdditionalHeaders", "").split(";") if h]

        def enc(text: str, keep_slash: bool) -> str:
            return quote(text, safe="-_.~" + ("/" if keep_slash else ""))

        uri = enc(f"/{bucket}/{key}" if bucket else "/", True)
        query = "&".join(
            f"{k}={v}" if v else k
            for k, v in sorted((enc(k, False), enc(v, False)) for k, v in params)
        )
        signed = sorted(
            (k.lower(), v)
            for k, v in headers.items()
            if k.lower().startswith("x-oss-")
            or k.lower() in ("content-type", "content-md5")
            or k.lower() in additional
        )
        canonical = "\n".join(
            [
                method,
                uri,
                query,
                "".join(f"{k}:{v}\n" for k, v in signed),
                ";".join(sorted(additional)),
                headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
            ]
        )
        scope = f"{date}/{region}/{product}/aliyun_v4_request"
        to_sign = "\n".join(
            [
                "OSS4-HMAC-SHA256",
                headers.get("x-oss-date", ""),
                scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        signing_key = ("aliyun_v4" + secret).encode()
        for part in (date, region, product, "aliyun_v4_request"):
            signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            raise OSSError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                CanonicalRequest=canonical,
            )


def _xml(tag: str, children: list) -> bytes:
    """Build an XML document from ``(tag, text-or-children)`` pairs."""

    def add(parent, items) -> None:
        for name, value in items:
            node = ElementTree.SubElement(parent, name)
            if isinstance(value, list):
                add(node, value)
            else:
                node.text = str(value)

    root = ElementTree.Element(tag)
    add(root, children)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes: no delayed-ACK stalls
    oss: OSSServer  # set on the bound subclass

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing -------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(
        self, status: int, body: bytes | list = b"", headers: dict | None = None, length=None
    ) -> None:
        self.send_response(status)
        self.send_header("x-oss-request-id", self.request_id)
        self.send_header("Server", "dflow-oss-test-server")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and body:
            for piece in body if isinstance(body, list) else [body]:  # bytes, or views of parts
                view = memoryview(piece)
                for start in range(0, len(view), 1 << 20):
                    self.wfile.write(view[start : start + (1 << 20)])

    def _send_error(self, err: OSSError, bucket: str, key: str) -> None:
        children = [
            ("Code", err.code),
            ("Message", err.message),
            ("RequestId", self.request_id),
            ("HostId", self.headers.get("Host", "")),
        ]
        if bucket:
            children.append(("BucketName", bucket))
        if key:
            children.append(("Key", key))
        children += list(err.extra.items())
        body = _xml("Error", children)
        headers = {"Content-Type": "application/xml"}
        if self.command == "HEAD":  # OSS puts the error document in a header for HEAD
            headers["x-oss-err"] = base64.b64encode(body).decode()
            body = b""
        self._send(err.status, body, headers)

    def _dispatch(self, method: str) -> None:
        self.request_id = uuid.uuid4().hex.upper()[:24]
        url = urlsplit(self.path)
        params = parse_qsl(url.query, keep_blank_values=True)
        bucket, _, raw_key = url.path.lstrip("/").partition("/")
        bucket, key = unquote(bucket), unquote(raw_key)
        body = self._read_body()
        if url.path.startswith("/_dflow_test/") and method == "POST":
            count = int(dict(params).get("count", "1"))
            {
                "corrupt": self.oss.corrupt_next_gets,
                "corrupt-put": self.oss.corrupt_next_puts,
                "fail": self.oss.fail_next,
            }[key](count)
            return self._send(204)
        with self.oss.lock:
            self.oss.requests.append((method, self.path))
        try:
            if self.oss.take_fault("_fail"):
                raise OSSError(503, "ServiceUnavailable", "Injected failure: please retry.")
            self.oss.check_signature(method, bucket, key, params, self.headers)
            _Api(self, bucket, key, dict(params), body).run(method)
        except OSSError as err:
            self._send_error(err, bucket, key)


class _Api:
    """The OSS operations. State changes hold the server's lock; hashing a request body and
    sending the answer do not, so concurrent requests use both cores (hashlib, socket I/O)."""

    def __init__(self, handler: _Handler, bucket: str, key: str, params: dict, body: bytes) -> None:
        self.h, self.oss, self.bucket, self.key = handler, handler.oss, bucket, key
        self.params, self.body, self.headers = params, body, handler.headers
        self.body_md5: bytes | None = None
        self.body_crc: int | None = None
        self.response: tuple = (500, b"", None, None)

    def _reply(
        self, status: int, body: bytes = b"", headers: dict | None = None, length=None
    ) -> None:
        self.response = (status, body, headers, length)

    def run(self, method: str) -> None:
        if not self.bucket:
            raise OSSError(
                400, "InvalidRequest", "This server only serves path-style bucket requests."
            )
        if method == "PUT" and self.key and "x-oss-copy-source" not in self.headers:
            if self.body and self.oss.take_fault("_corrupt_put"):
                self.body = bytes([self.body[0] ^ 0xFF]) + self.body[1:]
            self.body_md5 = hashlib.md5(self.body).digest()  # object or part data: hashed once
            self.body_crc = crc64(self.body)
        self._route(method)
        self.h._send(*self.response)

    def _route(self, method: str) -> None:
        p = self.params
        with self.oss.lock:
            if method == "PUT" and not self.key:
                self.oss.buckets.setdefault(self.bucket, {})
                return self._reply(200)
            if self.bucket not in self.oss.buckets:
                raise OSSError(404, "NoSuchBucket", "The specified bucket does not exist.")
            self.objects = self.oss.buckets[self.bucket]
            if not self.key:
                if method == "GET" and "bucketInfo" in p:
                    return self.bucket_info()
                if method == "GET" and "uploads" in p:
                    return self.list_uploads()
                if method == "GET":
                    return self.list_objects(v2=p.get("list-type") == "2")
                if method == "POST" and "delete" in p:
                    return self.delete_objects()
            elif method == "POST" and "uploads" in p:
                return self.initiate()
            elif "uploadId" in p:
                upload = self.oss.uploads.get(p["uploadId"])
                if upload is None or (upload.bucket, upload.key) != (self.bucket, self.key):
                    raise OSSError(404, "NoSuchUpload", "The specified upload does not exist.")
                if method == "PUT" and "partNumber" in p:
                    return self.upload_part(upload, int(p["partNumber"]))
                if method == "GET":
                    return self.list_parts(upload)
                if method == "POST":
                    return self.complete(upload)
                if method == "DELETE":
                    del self.oss.uploads[p["uploadId"]]
                    return self._reply(204)
            elif method == "PUT" and "x-oss-copy-source" in self.headers:
                return self.copy_object()
            elif method == "PUT":
                return self.put_object()
            elif method in ("GET", "HEAD"):
                return self.get_object(method)
            elif method == "DELETE":
                self.objects.pop(self.key, None)
                return self._reply(204)
        raise OSSError(400, "NotImplemented", f"{method} {self.h.path} is not implemented here.")

    # -- helpers --------------------------------------------------------------------------
    def _check_md5(self, data: bytes) -> bytes:
        digest = (
            self.body_md5 if data is self.body and self.body_md5 else hashlib.md5(data).digest()
        )
        sent = self.headers.get("Content-MD5")
        if sent is not None and sent != base64.b64encode(digest).decode():
            raise OSSError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
        return digest

    def _meta(self) -> dict[str, str]:
        return {
            k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-oss-meta-")
        }

    def _store(
        self,
        data: bytes,
        etag: str,
        content_type: str,
        meta: dict,
        kind: str,
        crc: int | None = None,
    ) -> _Object:
        obj = _Object(
            data, etag, content_type, meta, time.time(), crc64(data) if crc is None else crc, kind
        )
        self.objects[self.key] = obj
        return obj

    def _source(self) -> _Object:
        src_bucket, _, src_key = self.headers["x-oss-copy-source"].lstrip("/").partition("/")
        src_key = unquote(src_key.partition("?")[0])
        objects = self.oss.buckets.get(unquote(src_bucket))
        if objects is None:
            raise OSSError(404, "NoSuchBucket", "The specified source bucket does not exist.")
        if src_key not in objects:
            raise OSSError(404, "NoSuchKey", "The specified source key does not exist.")
        return objects[src_key]

    def _enc(self, text: str) -> str:
        return quote(text, safe="/") if self.params.get("encoding-type") == "url" else text

    def _etag_headers(self, etag: str, crc: int) -> dict:
        return {"ETag": f'"{etag}"', "x-oss-hash-crc64ecma": str(crc)}

    # -- objects --------------------------------------------------------------------------
    def put_object(self) -> None:
        digest = self._check_md5(self.body)
        content_type = self.headers.get("Content-Type", "application/octet-stream")
        obj = self._store(
            self.body, digest.hex().upper(), content_type, self._meta(), "Normal", self.body_crc
        )
        self._reply(200, headers=self._etag_headers(obj.etag, obj.crc))

    def get_object(self, method: str) -> None:
        obj = self.objects.get(self.key)
        if obj is None:
            raise OSSError(404, "NoSuchKey", "The specified key does not exist.")
        if_match = self.headers.get("If-Match")
        if if_match is not None and if_match.strip('"') != obj.etag:
            raise OSSError(412, "PreconditionFailed", "At least one of the pre-conditions failed.")
        headers = {
            **self._etag_headers(obj.etag, obj.crc),
            "Content-Type": obj.content_type,
            "Last-Modified": _http_date(obj.mtime),
            "Accept-Ranges": "bytes",
            "x-oss-object-type": obj.kind,
            **obj.meta,
        }
        status, size = 200, len(obj.data)
        start, end = 0, size - 1
        spec = self.headers.get("Range", "")
        if spec.startswith("bytes=") and "," not in spec:
            first, _, last = spec[6:].partition("-")
            if first == "":
                start, end = max(size - int(last), 0), size - 1
            else:
                start, end = int(first), min(int(last) if last else size - 1, size - 1)
            if start >= size or start > end:
                raise OSSError(416, "InvalidRange", "The requested range cannot be satisfied.")
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        pieces = _views(obj.data, start, end + 1)  # no copy of the stored bytes
        if method == "GET" and pieces and self.oss.take_fault("_corrupt"):
            first_piece = pieces[0]
            pieces[0] = memoryview(bytes([first_piece[0] ^ 0xFF]) + bytes(first_piece[1:]))
        self._reply(status, pieces if method == "GET" else b"", headers, length=end + 1 - start)

    def copy_object(self) -> None:
        src = self._source()
        replace = self.headers.get("x-oss-metadata-directive", "COPY").upper() == "REPLACE"
        meta = self._meta() if replace else dict(src.meta)
        content_type = (
            self.headers.get("Content-Type", src.content_type) if replace else src.content_type
        )
        obj = self._store(src.data, src.etag, content_type, meta, src.kind, src.crc)
        body = _xml(
            "CopyObjectResult", [("ETag", f'"{obj.etag}"'), ("LastModified", _iso_date(obj.mtime))]
        )
        self._reply(
            200, body, {"Content-Type": "application/xml", **self._etag_headers(obj.etag, obj.crc)}
        )

    def delete_objects(self) -> None:
        self._check_md5(self.body)
        root = ElementTree.fromstring(self.body)
        quiet = (root.findtext("Quiet") or "false").lower() == "true"
        deleted = []
        for node in root.findall("Object"):
            key = node.findtext("Key") or ""
            self.objects.pop(key, None)
            deleted.append(("Deleted", [("Key", self._enc(key))]))
        children = [] if quiet else deleted
        if self.params.get("encoding-type") == "url":
            children.append(("EncodingType", "url"))
        self._reply(200, _xml("DeleteResult", children), {"Content-Type": "application/xml"})

    def bucket_info(self) -> None:
        info = [
            ("Name", self.bucket),
            ("Location", f"oss-{self.oss.region}"),
            ("StorageClass", "Standard"),
            ("CreationDate", _iso_date(0)),
            ("Owner", [("ID", "dflow"), ("DisplayName", "dflow")]),
            ("AccessControlList", [("Grant", "private")]),
        ]
        self._reply(
            200, _xml("BucketInfo", [("Bucket", info)]), {"Content-Type": "application/xml"}
        )

    # -- listing --------------------------------------------------------------------------
    def list_objects(self, v2: bool) -> None:
        p = self.params
        prefix, delimiter = p.get("prefix", ""), p.get("delimiter", "")
        max_keys = min(int(p.get("max-keys") or 100), 1000)
        token = p.get("continuation-token", "")
        after = base64.urlsafe_b64decode(token).decode() if v2 and token else ""
        after = max(after, p.get("start-after" if v2 else "marker", ""))
        contents, prefixes, last, truncated = [], [], "", False
        for key in sorted(self.objects):
            if not key.startswith(prefix):
                continue
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            entry = key[: cut + len(delimiter)] if cut >= 0 else key
            if entry <= after or entry == last:  # a common prefix is listed once, across pages too
                continue
            if len(contents) + len(prefixes) == max_keys:
                truncated = True
                break
            (prefixes if cut >= 0 else contents).append(entry)
            last = entry
        children = [
            ("Name", self.bucket),
            ("Prefix", self._enc(prefix)),
            ("MaxKeys", max_keys),
            ("Delimiter", self._enc(delimiter)),
            ("IsTruncated", str(truncated).lower()),
        ]
        if p.get("encoding-type") == "url":
            children.append(("EncodingType", "url"))
        if v2:
            children.append(("KeyCount", len(contents) + len(prefixes)))
            if token:
                children.append(("ContinuationToken", token))
            if truncated:
                children.append(
                    ("NextContinuationToken", base64.urlsafe_b64encode(last.encode()).decode())
                )
        else:
            children.append(("Marker", self._enc(p.get("marker", ""))))
            if truncated:
                children.append(("NextMarker", self._enc(last)))
        for key in contents:
            obj = self.objects[key]
            children.append(
                (
                    "Contents",
                    [
                        ("Key", self._enc(key)),
                        ("LastModified", _iso_date(obj.mtime)),
                        ("ETag", f'"{obj.etag}"'),
                        ("Type", obj.kind),
                        ("Size", len(obj.data)),
                        ("StorageClass", "Standard"),
                    ],
                )
            )
        children += [("CommonPrefixes", [("Prefix", self._enc(cp))]) for cp in prefixes]
        self._reply(200, _xml("ListBucketResult", children), {"Content-Type": "application/xml"})

    # -- multipart ------------------------------------------------------------------------
    def initiate(self) -> None:
        # time first, as OSS's IDs: listing by upload ID lists a key's uploads oldest first
        upload_id = f"{time.time_ns():016X}{uuid.uuid4().hex[:16].upper()}"
        content_type = self.headers.get("Content-Type", "application/octet-stream")
        self.oss.uploads[upload_id] = _Upload(self.bucket, self.key, content_type, self._meta())
        body = _xml(
            "InitiateMultipartUploadResult",
            [("Bucket", self.bucket), ("Key", self._enc(self.key)), ("UploadId", upload_id)],
        )
        self._reply(200, body, {"Content-Type": "application/xml"})

    def list_uploads(self) -> None:
        """ListMultipartUploads: uploads initiated and neither completed nor aborted, by key,
        then oldest first; ``key-marker`` / ``upload-id-marker`` resume after an entry."""
        p = self.params
        prefix, delimiter = p.get("prefix", ""), p.get("delimiter", "")
        key_marker = p.get("key-marker", "")
        id_marker = p.get("upload-id-marker", "") if key_marker else ""  # ignored without a key
        try:
            max_uploads = int(p.get("max-uploads") or 1000)
        except ValueError:
            max_uploads = 0
        if max_uploads < 1:
            raise OSSError(400, "InvalidArgument", "max-uploads must be a positive integer.")
        max_uploads = min(max_uploads, 1000)
        entries = sorted(
            (u.key, uid, u)
            for uid, u in self.oss.uploads.items()
            if u.bucket == self.bucket and u.key.startswith(prefix)
        )
        children, seen_prefixes, count, last, truncated = [], set(), 0, ("", ""), False
        for key, uid, upload in entries:
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            common = key[: cut + len(delimiter)] if cut >= 0 else None
            entry = (
                key if common is None else common
            )  # a common prefix is listed once, across pages too
            if entry < key_marker or (entry == key_marker and (not id_marker or uid <= id_marker)):
                continue
            if common is not None and common in seen_prefixes:
                continue
            if count == max_uploads:
                truncated = True
                break
            count += 1
            if common is not None:
                seen_prefixes.add(common)
                children.append(("CommonPrefixes", [("Prefix", self._enc(common))]))
                last = (common, "")
            else:
                children.append(
                    (
                        "Upload",
                        [
                            ("Key", self._enc(key)),
                            ("UploadId", uid),
                            ("Initiated", _iso_date(upload.initiated)),
                        ],
                    )
                )
                last = (key, uid)
        head = [
            ("Bucket", self.bucket),
            ("KeyMarker", self._enc(key_marker)),
            ("UploadIdMarker", id_marker),
            ("NextKeyMarker", self._enc(last[0]) if truncated else ""),
            ("NextUploadIdMarker", last[1] if truncated else ""),
            ("Delimiter", self._enc(delimiter)),
            ("Prefix", self._enc(prefix)),
            ("MaxUploads", max_uploads),
            ("IsTruncated", str(truncated).lower()),
        ]
        if p.get("encoding-type") == "url":
            head.insert(0, ("EncodingType", "url"))
        self._reply(
            200,
            _xml("ListMultipartUploadsResult", head + children),
            {"Content-Type": "application/xml"},
        )

    def upload_part(self, upload: _Upload, number: int) -> None:
        if not 1 <= number <= 10000:
            raise OSSError(
                400, "InvalidArgument", "Part number must be an integer between 1 and 10000."
            )
        if "x-oss-copy-source" in self.headers:
            source = self._source().data
            start, stop = 0, len(source)
            spec = self.headers.get("x-oss-copy-source-range", "")
            if spec.startswith("bytes="):
                first, _, last = spec[6:].partition("-")
                start, stop = int(first), min(int(last) + 1 if last else stop, stop)
            data = b"".join(_views(source, start, stop))
            etag = hashlib.md5(data).hexdigest().upper()
            upload.parts[number] = (data, etag, time.time(), crc64(data))
            body = _xml(
                "CopyPartResult", [("LastModified", _iso_date(time.time())), ("ETag", f'"{etag}"')]
            )
            return self._reply(200, body, {"Content-Type": "application/xml", "ETag": f'"{etag}"'})
        etag = self._check_md5(self.body).hex().upper()
        upload.parts[number] = (self.body, etag, time.time(), self.body_crc)
        self._reply(200, headers=self._etag_headers(etag, self.body_crc))

    def list_parts(self, upload: _Upload) -> None:
        marker = int(self.params.get("part-number-marker") or 0)
        max_parts = min(int(self.params.get("max-parts") or 1000), 1000)
        numbers = [n for n in sorted(upload.parts) if n > marker]
        page, truncated = numbers[:max_parts], len(numbers) > max_parts
        children = [
            ("Bucket", self.bucket),
            ("Key", upload.key),
            ("UploadId", self.params["uploadId"]),
            ("PartNumberMarker", marker),
            ("NextPartNumberMarker", page[-1] if page else marker),
            ("MaxParts", max_parts),
            ("IsTruncated", str(truncated).lower()),
        ]
        for n in page:
            data, etag, mtime, crc = upload.parts[n]
            children.append(
                (
                    "Part",
                    [
                        ("PartNumber", n),
                        ("LastModified", _iso_date(mtime)),
                        ("ETag", f'"{etag}"'),
                        ("HashCrc64ecma", crc),
                        ("Size", len(data)),
                    ],
                )
            )
        self._reply(200, _xml("ListPartsResult", children), {"Content-Type": "application/xml"})

    def complete(self, upload: _Upload) -> None:
        if self.headers.get("x-oss-complete-all", "").lower() == "yes":
            chosen = sorted(upload.parts)
        else:
            chosen = []
            for node in ElementTree.fromstring(self.body).findall("Part"):
                number, etag = (
                    int(node.findtext("PartNumber")),
                    (node.findtext("ETag") or "").strip('"'),
                )
                if number not in upload.parts or upload.parts[number][1] != etag.upper():
                    raise OSSError(
                        400, "InvalidPart", f"Part {number} was not uploaded or its ETag differs."
                    )
                if chosen and number <= chosen[-1]:
                    raise OSSError(
                        400, "InvalidPartOrder", "The list of parts was not in ascending order."
                    )
                chosen.append(number)
        if not chosen:
            raise OSSError(400, "InvalidRequest", "A multipart upload needs at least one part.")
        data = _Parts([upload.parts[n][0] for n in chosen])
        md5s = b"".join(bytes.fromhex(upload.parts[n][1]) for n in chosen)
        etag = f"{hashlib.md5(md5s).hexdigest().upper()}-{len(chosen)}"
        crc = 0
        for n in chosen:  # the object's CRC from its parts' (as OSS does), not a second pass
            crc = crc64_combine(crc, upload.parts[n][3], len(upload.parts[n][0]))
        obj = self._store(data, etag, upload.content_type, upload.meta, "Multipart", crc)
        del self.oss.uploads[self.params["uploadId"]]
        children = [
            ("Location", f"{self.h.headers.get('Host', '')}/{self.bucket}/{self._enc(self.key)}"),
            ("Bucket", self.bucket),
            ("Key", self._enc(self.key)),
            ("ETag", f'"{etag}"'),
        ]
        if self.params.get("encoding-type") == "url":
            children.insert(0, ("EncodingType", "url"))
        self._reply(
            200,
            _xml("CompleteMultipartUploadResult", children),
            {"Content-Type": "application/xml", **self._etag_headers(obj.etag, obj.crc)},
        )


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # a client closing a connection early (a ranged download abandoning a GET) is normal
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM/SIGINT; print ``READY <port>`` once listening."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--access-key-id", default="dflow-test-ak")
    parser.add_argument("--access-key-secret", default="dflow-test-secret")
    parser.add_argument("--bucket", action="append", default=None)
    parser.add_argument("--region", default="cn-dflow-test")
    args = parser.parse_args(argv)
    server = OSSServer(
        args.access_key_id,
        args.access_key_secret,
        tuple(args.bucket or ["dflow-test"]),
        args.region,
    )
    handler = type("_BoundHandler", (_Handler,), {"oss": server})
    httpd = _QuietServer(("127.0.0.1", args.port), handler)  # loopback only
    httpd.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=httpd.shutdown).start())
    print(f"READY {httpd.server_address[1]}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    httpd.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()

"""A stand-in for kube-apiserver in tests: ConfigMaps and Secrets of namespaces, over memory.

This is not Kubernetes (kube-apiserver cannot run here): it serves only the core/v1 REST
paths dflow's :mod:`dflow_engine_argo.k8s` client calls, POST/GET on
``/api/v1/namespaces/{ns}/{configmaps|secrets}`` and GET/PUT on ``.../{name}``, and answers
as the API server does (``Status`` objects; 409 AlreadyExists on a repeated create; 404 on
replacing a missing object; 400/422 on a bad body). What it checks:

- the bearer token (401 otherwise);
- the body is a JSON object with ``apiVersion: v1`` and the ``kind`` of the path, and no
  top-level field outside core/v1's (ConfigMap: apiVersion, kind, metadata, data, binaryData,
  immutable; Secret: the same with stringData and type instead of binaryData);
- ``metadata`` has only ObjectMeta fields dflow could send (name, namespace, labels,
  annotations, resourceVersion, uid...), ``metadata.name`` is a DNS subdomain, equals the
  path's name on PUT, and ``metadata.namespace``, if given, is the path's;
- ``data`` (and ``stringData``) are maps of valid keys (``[-._a-zA-Z0-9]+``) to strings, a
  Secret's ``data`` values are base64, a Secret's ``type`` is a string (``Opaque`` by
  default) and a ``kubernetes.io/dockerconfigjson`` Secret holds a JSON ``.dockerconfigjson``
  with ``auths``.

``fail(503, times=2)`` answers the next requests with that status. Requests are recorded
without their Authorization header; stored Secrets keep ``stringData`` merged into ``data``
as the API server does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import ssl
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "k8s-t0ken-value"
_PATH = re.compile(
    r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<plural>configmaps|secrets)"
    r"(?:/(?P<name>[^/]+))?$"
)
_KIND = {"configmaps": "ConfigMap", "secrets": "Secret"}
_TOP = {
    "ConfigMap": {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"},
    "Secret": {"apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"},
}
_META = {
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "finalizers",
    "ownerReferences",
}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


class Invalid(Exception):
    pass


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _check_map(obj: dict[str, Any], field: str, base64_values: bool) -> None:
    value = obj.get(field)
    if value is None:
        return
    if not isinstance(value, dict):
        raise Invalid(f"{field}: must be a map of strings")
    for k, v in value.items():
        if not _KEY.match(k) or len(k) > 253:
            raise Invalid(
                f"{field}[{k}]: a valid config key must consist of alphanumeric "
                "characters, '-', '_' or '.'"
            )
        if not isinstance(v, str):
            raise Invalid(f"{field}[{k}]: must be a string")
        if base64_values:
            try:
                base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                raise Invalid(f"{field}[{k}]: illegal base64 data") from None


def validate(body: Any, kind: str, namespace: str, name: str | None) -> None:
    """Raise :class:`Invalid` when ``body`` is not a core/v1 ``kind`` for that path."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    if body.get("apiVersion") != "v1":
        raise Invalid(f"apiVersion must be 'v1', not {body.get('apiVersion')!r}")
    if body.get("kind") != kind:
        raise Invalid(f"kind must be {kind!r} on this path, not {body.get('kind')!r}")
    unknown = sorted(set(body) - _TOP[kind])
    if unknown:
        raise Invalid(f"unknown field(s) {unknown} in {kind}")
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        raise Invalid("metadata: required")
    if set(meta) - _META:
        raise Invalid(f"metadata: unknown field(s) {sorted(set(meta) - _META)}")
    mname = meta.get("name")
    if not isinstance(mname, str) or len(mname) > 253 or not _NAME.match(mname):
        raise Invalid(
            f"metadata.name: Invalid value: {mname!r}: a lowercase RFC 1123 subdomain is required"
        )
    if name is not None and mname != name:
        raise Invalid(
            f"metadata.name: Invalid value: {mname!r}: does not match the path's {name!r}"
        )
    if meta.get("namespace") not in (None, namespace):
        raise Invalid("metadata.namespace: does not match the namespace of the request")
    for field in ("labels", "annotations"):
        if meta.get(field) is not None and not all(
            isinstance(v, str) for v in dict(meta[field]).values()
        ):
            raise Invalid(f"metadata.{field}: values must be strings")
    if kind == "ConfigMap":
        _check_map(body, "data", False)
        _check_map(body, "binaryData", True)
        return
    _check_map(body, "data", True)
    _check_map(body, "stringData", False)
    stype = body.get("type", "Opaque")
    if not isinstance(stype, str) or not stype:
        raise Invalid("type: must be a non-empty string")
    if stype == "kubernetes.io/dockerconfigjson":
        merged = dict(body.get("stringData") or {})
        raw = merged.get(".dockerconfigjson")
        if raw is None and ".dockerconfigjson" in (body.get("data") or {}):
            raw = base64.b64decode(body["data"][".dockerconfigjson"]).decode()
        try:
            auths = json.loads(raw or "")["auths"]
        except (ValueError, KeyError, TypeError):
            raise Invalid(
                "data[.dockerconfigjson]: must be a JSON docker config with 'auths'"
            ) from None
        if not isinstance(auths, dict):
            raise Invalid("data[.dockerconfigjson]: 'auths' must be a map")


class FakeKubeServer:
    """The server and its state (``objects[(namespace, plural, name)]``); a context manager."""

    def __init__(self, token: str | None = TOKEN, tls: tuple[str, str] | None = None) -> None:
        self.token = token
        self.tls = tls  # (cert file, key file): serve HTTPS
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    def __enter__(self) -> FakeKubeServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    def fail(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status``."""
        self._failures += [status] * times

    def get(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((namespace, plural, name))

    def handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return _status(400, "BadRequest", "the body is not JSON")
        self.requests.append({"method": method, "path": path, "body": body})
        with self._lock:
            if self._failures:
                code = self._failures.pop(0)
                return _status(code, "InternalError", f"injected failure {code}")
        # header names and the auth scheme are case-insensitive (RFC 9110 §5.1, §11.1); the
        # kubernetes package sends "authorization: bearer ..." from a service account
        scheme, _, token = (
            {k.lower(): v for k, v in headers.items()}.get("authorization") or ""
        ).partition(" ")
        if self.token is not None and (scheme.lower(), token) != ("bearer", self.token):
            return _status(401, "Unauthorized", "Unauthorized")
        m = _PATH.match(path.split("?", 1)[0])
        if not m:
            return _status(404, "NotFound", "the server could not find the requested resource")
        ns, plural, name = m["ns"], m["plural"], m["name"]
        kind = _KIND[plural]
        allowed = ("GET", "PUT") if name else ("POST",)
        if method not in allowed:
            return _status(405, "MethodNotAllowed", f"{method} is not served on {path}")
        if method == "GET":
            obj = self.get(ns, plural, name)
            return (200, obj) if obj else _status(404, "NotFound", f'{plural} "{name}" not found')
        try:
            validate(body, kind, ns, name)
        except Invalid as exc:
            return _status(422, "Invalid", f"{kind} is invalid: {exc}")
        key = (ns, plural, body["metadata"]["name"])
        with self._lock:
            if method == "POST" and key in self.objects:
                return _status(409, "AlreadyExists", f'{plural} "{key[2]}" already exists')
            if method == "PUT" and key not in self.objects:
                return _status(404, "NotFound", f'{plural} "{key[2]}" not found')
            stored = _store(body, ns, self.objects.get(key))
            self.objects[key] = stored
        return (201 if method == "POST" else 200), stored


def _store(body: dict[str, Any], namespace: str, old: dict[str, Any] | None) -> dict[str, Any]:
    obj = json.loads(json.dumps(body))
    meta = obj["metadata"]
    meta["namespace"] = namespace
    meta["uid"] = old["metadata"]["uid"] if old else str(uuid.uuid4())
    meta["creationTimestamp"] = (
        old["metadata"]["creationTimestamp"]
        if old
        else datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    meta["resourceVersion"] = str(int(old["metadata"]["resourceVersion"]) + 1 if old else 1)
    if obj["kind"] == "Secret":
        obj.setdefault("type", "Opaque")
        data = obj.setdefault("data", {})
        for k, v in (obj.pop("stringData", None) or {}).items():
            data[k] = base64.b64encode(v.encode()).decode()
    return obj


def _handler(server: FakeKubeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                status, payload = server.handle(self.command, self.path, dict(self.headers), raw)
            except Exception as exc:  # a bug here must show as a 500, not a hung client
                status, payload = _status(500, "InternalError", f"test server error: {exc!r}")
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler

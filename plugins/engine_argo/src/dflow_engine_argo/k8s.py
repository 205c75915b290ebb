"""A small Kubernetes REST client: the ConfigMaps and Secrets dflow creates before submitting.

Reuse of steps needs a memoize cache ConfigMap and secrets with values need Secrets, both in
the workflow's namespace, made through the Kubernetes API (``k8s_api_server`` with the dflow
token, or the current context of the kubeconfig ``k8s_config_file``). TLS certificates are
verified unless told otherwise; calls are retried on 5xx answers and connection errors (they
are idempotent: create answers 409 on a repeat). Secret values never appear in a message or a
log line, nor does the token.
"""

from __future__ import annotations

import atexit
import base64
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from typing import Any

import requests
from dflow.engine import EngineError

log = logging.getLogger(__name__)

RETRY_STATUSES = (500, 502, 503, 504)
_PLURAL = {"ConfigMap": "configmaps", "Secret": "secrets"}


class KubeError(EngineError):
    """The Kubernetes API failed or refused a call; ``status`` is the HTTP status (if any)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class KubeConflictError(KubeError):
    """409: the object already exists."""


class KubeNotFoundError(KubeError):
    """404: no such object (or namespace)."""


class KubeClient:
    """ConfigMaps and Secrets of one namespace through the Kubernetes REST API."""

    def __init__(
        self,
        server: str,
        namespace: str,
        token: str | None = None,
        *,
        verify_ssl: bool | str = True,
        client_cert: tuple[str, str] | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 30.0,
        origin: str = "k8s_api_server",
    ) -> None:
        self.server = server.rstrip("/")
        self.namespace = namespace
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.origin = origin  # the setting the server came from, for error messages
        self.verify = verify_ssl
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if client_cert:
            self.session.cert = client_cert
        if token:
            value = token if token.lower().startswith("bearer ") else f"Bearer {token}"
            self.session.headers["Authorization"] = value

    def __repr__(self) -> str:
        return f"KubeClient(server={self.server!r}, namespace={self.namespace!r})"

    @classmethod
    def from_config(cls, config: Any) -> KubeClient:
        """The client of an :class:`~dflow_engine_argo.config.ArgoConfig`: its kubeconfig
        (``k8s_config_file``, current context) or else ``k8s_api_server`` with its token."""
        common = {"retries": config.retries, "backoff": config.backoff, "timeout": config.timeout}
        if config.k8s_config_file:
            return cls._from_kubeconfig(config, common)
        if config.k8s_api_server:
            verify: bool | str = config.ca_file if config.ca_file else config.verify_ssl
            return cls(config.k8s_api_server, config.namespace, config.token,
                       verify_ssl=verify, **common)
        raise EngineError(
            "this workflow needs Kubernetes objects (a memoize ConfigMap for reuse_step, or "
            "Secrets that carry values) but no Kubernetes API is configured: set "
            "k8s_api_server (DFLOW_K8S_API_SERVER, with token) or k8s_config_file "
            "(DFLOW_K8S_CONFIG_FILE, a kubeconfig) in config or in [engines.argo]"
        )

    @classmethod
    def _from_kubeconfig(cls, config: Any, common: dict[str, Any]) -> KubeClient:
        import yaml

        path = os.path.expanduser(config.k8s_config_file)
        where = f"k8s_config_file {path}"
        try:
            with open(path, encoding="utf-8") as f:
                kc = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise EngineError(f"cannot read {where}: {exc}") from None
        name = kc.get("current-context")
        context = _named(kc, "contexts", name, where, "context")
        cluster = _named(kc, "clusters", context.get("cluster"), where, "cluster")
        user = _named(kc, "users", context.get("user"), where, "user") if context.get(
            "user") else {}
        server = cluster.get("server")
        if not server:
            raise EngineError(f"{where}: cluster '{context.get('cluster')}' has no server")
        verify: bool | str = config.ca_file if config.ca_file else config.verify_ssl
        if cluster.get("insecure-skip-tls-verify"):
            verify = False
        elif cluster.get("certificate-authority-data"):
            verify = _temp_file(base64.b64decode(cluster["certificate-authority-data"]))
        elif cluster.get("certificate-authority"):
            verify = _relative(path, cluster["certificate-authority"])
        token = user.get("token")
        if not token and user.get("tokenFile"):
            with open(_relative(path, user["tokenFile"]), encoding="utf-8") as f:
                token = f.read().strip()
        cert = None
        if user.get("client-certificate-data") and user.get("client-key-data"):
            cert = (_temp_file(base64.b64decode(user["client-certificate-data"])),
                    _temp_file(base64.b64decode(user["client-key-data"])))
        elif user.get("client-certificate") and user.get("client-key"):
            cert = (_relative(path, user["client-certificate"]),
                    _relative(path, user["client-key"]))
        namespace = config.namespace or context.get("namespace") or "default"
        return cls(server, namespace, token or config.token, verify_ssl=verify,
                   client_cert=cert, origin=where, **common)

    # -- calls -------------------------------------------------------------------------------
    def path(self, kind: str, name: str | None = None) -> str:
        if kind not in _PLURAL:
            raise ValueError(f"unsupported kind {kind!r}: ConfigMap or Secret")
        base = f"/api/v1/namespaces/{self.namespace}/{_PLURAL[kind]}"
        return f"{base}/{name}" if name else base

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self._call("GET", self.path(kind, name), None, f"{kind} '{name}'").json()
        except KubeNotFoundError:
            return None

    def create(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        return self._call("POST", self.path(kind), manifest, f"{kind} '{name}'").json()

    def replace(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        return self._call("PUT", self.path(kind, name), manifest, f"{kind} '{name}'").json()

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Create the object, or replace it when one of that name exists (409)."""
        try:
            created = self.create(manifest)
            log.info("created %s %s in namespace %s", manifest["kind"],
                     manifest["metadata"]["name"], self.namespace)
            return created
        except KubeConflictError:
            log.info("replacing existing %s %s in namespace %s", manifest["kind"],
                     manifest["metadata"]["name"], self.namespace)
            return self.replace(manifest)

    # -- transport ---------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any, subject: str) -> requests.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self.session.request(method, self.server + path, json=body,
                                            timeout=self.timeout, verify=self.verify)
            except requests.exceptions.SSLError as exc:
                raise KubeError(
                    f"TLS verification of the Kubernetes API at {self.server} ({self.origin}) "
                    f"failed ({_reason(exc)}): give its CA (ca_file, or certificate-authority "
                    "in the kubeconfig); verify_ssl = false disables the check (not recommended)"
                ) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if attempt <= self.retries:
                    self._pause(attempt, method, path, _reason(exc))
                    continue
                raise KubeError(
                    f"cannot reach the Kubernetes API at {self.server} ({self.origin}) for "
                    f"{subject}: {_reason(exc)}; check that the server runs and the setting"
                ) from None
            if resp.status_code in RETRY_STATUSES and attempt <= self.retries:
                self._pause(attempt, method, path, f"HTTP {resp.status_code}")
                continue
            if resp.status_code >= 400:
                raise self._error(resp, method, subject, _secrets_of(body))
            return resp

    def _pause(self, attempt: int, method: str, path: str, why: str) -> None:
        delay = self.backoff * 2 ** (attempt - 1)
        log.warning("Kubernetes %s %s: %s; retry %d/%d in %.1fs", method, path, why, attempt,
                    self.retries, delay)
        time.sleep(delay)

    def _error(self, resp: requests.Response, method: str, subject: str,
               hidden: Iterable[str]) -> KubeError:
        try:
            detail = resp.json().get("message") or resp.text
        except ValueError:
            detail = resp.text
        detail = (detail or resp.reason or "").strip()[:500]
        for value in hidden:  # an API server may echo what it rejects
            detail = detail.replace(value, "<redacted>")
        code = resp.status_code
        at = f"the Kubernetes API at {self.server} ({self.origin})"
        if code == 401:
            return KubeError(
                f"{at} refused the credentials for {method} {subject} (HTTP 401: {detail}): "
                "give a valid bearer token (config['token'] / DFLOW_TOKEN with k8s_api_server, "
                "or the kubeconfig user's token)", code)
        if code == 403:
            return KubeError(
                f"{at} denied {method} {subject} in namespace '{self.namespace}' (HTTP 403: "
                f"{detail}): the account needs RBAC permission to create/update configmaps "
                "and secrets there", code)
        if code == 404:
            return KubeNotFoundError(
                f"{subject} not found at {at} in namespace '{self.namespace}' (HTTP 404: "
                f"{detail}): check that the namespace exists", code)
        if code == 409:
            return KubeConflictError(
                f"{subject} already exists in namespace '{self.namespace}' (HTTP 409: {detail})",
                code)
        return KubeError(f"{at} rejected {method} {subject}: HTTP {code}: {detail}", code)


def _named(kc: Mapping[str, Any], section: str, name: Any, where: str, what: str) -> dict:
    for item in kc.get(section) or []:
        if item.get("name") == name:
            return dict(item.get(what) or {})
    raise EngineError(f"{where}: no {what} named {name!r} (current-context "
                      f"{kc.get('current-context')!r}); check the kubeconfig")


def _relative(kubeconfig: str, path: str) -> str:
    # kubeconfig file references are relative to the kubeconfig's folder
    return path if os.path.isabs(path) else os.path.join(os.path.dirname(kubeconfig), path)


def _temp_file(data: bytes) -> str:
    fd, path = tempfile.mkstemp(prefix="dflow-k8s-", suffix=".pem")  # mode 0600
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    atexit.register(_remove, path)
    return path


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _secrets_of(body: Any) -> list[str]:
    """The values (plain and base64) a Secret body carries, longest first."""
    if not isinstance(body, Mapping) or body.get("kind") != "Secret":
        return []
    out = [str(v) for v in (body.get("stringData") or {}).values()]
    for v in (body.get("data") or {}).values():
        out.append(str(v))
        try:
            out.append(base64.b64decode(v).decode())
        except (ValueError, UnicodeDecodeError):
            pass
    return sorted((v for v in out if v), key=len, reverse=True)


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."


def opaque_secret(name: str, data: Mapping[str, str]) -> dict[str, Any]:
    """An Opaque Secret manifest (values base64 in ``data``)."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque",
            "data": {k: _b64(v) for k, v in data.items()}}


def docker_secret(name: str, registry: str, username: str, password: str) -> dict[str, Any]:
    """A ``kubernetes.io/dockerconfigjson`` Secret manifest for one registry."""
    import json

    auths = {"auths": {registry: {"username": username, "password": password,
                                  "auth": _b64(f"{username}:{password}")}}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": _b64(json.dumps(auths))}}


def _b64(text: str) -> str:
    return base64.b64encode(str(text).encode()).decode()

"""The ConfigMaps and Secrets dflow creates before submitting, through the ``kubernetes`` package.

Reuse of steps needs memoize cache ConfigMaps and secrets with values need Secrets, both in
the workflow's namespace. Credentials come from the official client's loaders (see
:mod:`.k8s_credentials`: ``k8s_api_server`` with the token, a kubeconfig including ``exec``
credential plugins, or the pod's service account); calls go through its ``CoreV1Api`` with
our dict bodies and raw JSON answers (``_preload_content=False``), so what we send and read
is exactly the Kubernetes object. TLS certificates are verified unless told otherwise; calls
are retried with backoff on 5xx answers and connection errors (they are idempotent: create
answers 409 on a repeat). Secret values never appear in a message or a log line, nor does
the token. ``kubernetes`` is imported on the first call, never at import time.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dflow.engine import EngineError

from .retry import RETRY_STATUSES, Backoff

log = logging.getLogger(__name__)

_PLURAL = {"ConfigMap": "configmaps", "Secret": "secrets"}
_SNAKE = {"ConfigMap": "config_map", "Secret": "secret"}


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
    """ConfigMaps and Secrets of one namespace through the Kubernetes API.

    Either ``server`` with ``token`` / ``verify_ssl`` (True, False or a CA file) /
    ``client_cert`` (cert file, key file), or a ready ``configuration`` (a
    ``kubernetes.client.Configuration`` from a kubeconfig or a service account, see
    :meth:`from_config`); ``origin`` names the setting it came from, for messages.
    """

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
        sleep: Callable[[float], None] = time.sleep,
        configuration: Any = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.namespace = namespace
        self.timeout = timeout
        self.origin = origin
        self.backoff = Backoff(retries, backoff, sleep)
        self._configuration = configuration
        self._explicit = (token, verify_ssl, client_cert)
        self._core: Any = None

    def __repr__(self) -> str:
        return f"KubeClient(server={self.server!r}, namespace={self.namespace!r})"

    @classmethod
    def from_config(
        cls,
        config: Any,
        *,
        environ: Mapping[str, str] | None = None,
        service_account_dir: str | None = None,
    ) -> KubeClient:
        """The client of an :class:`~dflow_engine_argo.config.ArgoConfig`.

        Credentials, first found wins: ``k8s_api_server`` with ``token``; the kubeconfig
        ``k8s_config_file``; ``$KUBECONFIG``; ``~/.kube/config``; the service account of the
        pod this runs in. ``environ`` and ``service_account_dir`` stand in for the process
        environment and ``/var/run/secrets/kubernetes.io/serviceaccount`` (for tests).
        """
        from .k8s_credentials import SERVICE_ACCOUNT_DIR, load

        common = {"retries": config.retries, "backoff": config.backoff, "timeout": config.timeout}
        if config.k8s_api_server:
            verify: bool | str = config.ca_file if config.ca_file else config.verify_ssl
            return cls(
                config.k8s_api_server, config.namespace, config.token, verify_ssl=verify, **common
            )
        configuration, origin = load(config, environ, service_account_dir or SERVICE_ACCOUNT_DIR)
        return cls(
            configuration.host,
            config.namespace,
            origin=origin,
            configuration=configuration,
            **common,
        )

    # -- the kubernetes package --------------------------------------------------------------
    def core(self) -> Any:
        """The ``kubernetes.client.CoreV1Api``, made (and the package imported) on first use."""
        if self._core is None:
            from kubernetes import client

            cfg = self._configuration
            if cfg is None:
                cfg = client.Configuration()
                cfg.host = self.server
                token, verify, cert = self._explicit
                if token:
                    bearer = token if token.lower().startswith("bearer ") else f"Bearer {token}"
                    cfg.api_key = {"authorization": bearer}
                cfg.verify_ssl = bool(verify)
                if isinstance(verify, str):
                    cfg.ssl_ca_cert = verify
                if cert:
                    cfg.cert_file, cfg.key_file = cert
            cfg.retries = False  # ours decide (retry.py)
            self._core = client.CoreV1Api(client.ApiClient(cfg))
        return self._core

    # -- calls -------------------------------------------------------------------------------
    def path(self, kind: str, name: str | None = None) -> str:
        if kind not in _PLURAL:
            raise ValueError(f"unsupported kind {kind!r}: ConfigMap or Secret")
        base = f"/api/v1/namespaces/{self.namespace}/{_PLURAL[kind]}"
        return f"{base}/{name}" if name else base

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self._call("GET", kind, name, None, "read")
        except KubeNotFoundError:
            return None

    def create(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        return self._call("POST", kind, name, manifest, "create")

    def replace(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        return self._call("PUT", kind, name, manifest, "replace")

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Create the object, or replace it when one of that name exists (409)."""
        try:
            created = self.create(manifest)
            log.info(
                "created %s %s in namespace %s",
                manifest["kind"],
                manifest["metadata"]["name"],
                self.namespace,
            )
            return created
        except KubeConflictError:
            log.info(
                "replacing existing %s %s in namespace %s",
                manifest["kind"],
                manifest["metadata"]["name"],
                self.namespace,
            )
            return self.replace(manifest)

    # -- transport ---------------------------------------------------------------------------
    def _call(self, method: str, kind: str, name: str, body: Any, verb: str) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        path = self.path(kind, None if method == "POST" else name)
        subject = f"{kind} '{name}'"
        call = getattr(self.core(), f"{verb}_namespaced_{_SNAKE[kind]}")
        args: list[Any] = (
            [self.namespace, dict(body)] if method == "POST" else [name, self.namespace]
        )
        if method == "PUT":
            args.append(dict(body))
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = call(*args, _preload_content=False, _request_timeout=self.timeout)
                break
            except ApiException as exc:
                if exc.status == 0:  # the package's wrapping of a TLS failure
                    raise KubeError(
                        f"TLS verification of the Kubernetes API at {self.server} "
                        f"({self.origin}) failed ({_tls_reason(exc.reason)}): give its CA "
                        "(ca_file, or certificate-authority in the kubeconfig); verify_ssl = "
                        "false disables the check (not recommended)"
                    ) from None
                if exc.status in RETRY_STATUSES and self.backoff.allows(attempt):
                    self.backoff.pause(
                        attempt, log, f"Kubernetes {method} {path}", f"HTTP {exc.status}"
                    )
                    continue
                raise self._error(
                    exc.status, exc.body, method, subject, _secrets_of(body)
                ) from None
            except HTTPError as exc:
                if self.backoff.allows(attempt):
                    self.backoff.pause(attempt, log, f"Kubernetes {method} {path}", _short(exc))
                    continue
                raise KubeError(
                    f"cannot reach the Kubernetes API at {self.server} ({self.origin}) for "
                    f"{subject}: {_short(exc)}; check that the server runs and the setting"
                ) from None
            except ValueError as exc:
                # kubernetes >= 37 checks the body against its models before sending
                raise KubeError(
                    f"{subject} is invalid (checked by the kubernetes package before sending "
                    f"it to {self.server}): {_validation_summary(exc, _secrets_of(body))}"
                ) from None
        try:
            return json.loads(resp.data)
        finally:
            resp.release_conn()

    def _error(
        self, code: int, body: Any, method: str, subject: str, hidden: Iterable[str]
    ) -> KubeError:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        try:
            detail = json.loads(text).get("message") or text
        except (ValueError, AttributeError):
            detail = text
        detail = _redact(detail.strip()[:500], hidden)  # an API server may echo what it rejects
        at = f"the Kubernetes API at {self.server} ({self.origin})"
        if code == 401:
            return KubeError(
                f"{at} refused the credentials for {method} {subject} (HTTP 401: {detail}): "
                "give a valid bearer token (config['token'] / DFLOW_TOKEN with k8s_api_server, "
                "or the kubeconfig user's token, client certificate or exec plugin)",
                code,
            )
        if code == 403:
            return KubeError(
                f"{at} denied {method} {subject} in namespace '{self.namespace}' (HTTP 403: "
                f"{detail}): the account needs RBAC permission to create/update configmaps "
                "and secrets there",
                code,
            )
        if code == 404:
            return KubeNotFoundError(
                f"{subject} not found at {at} in namespace '{self.namespace}' (HTTP 404: "
                f"{detail}): check that the namespace exists",
                code,
            )
        if code == 409:
            return KubeConflictError(
                f"{subject} already exists in namespace '{self.namespace}' (HTTP 409: {detail})",
                code,
            )
        return KubeError(f"{at} rejected {method} {subject}: HTTP {code}: {detail}", code)


def _redact(text: str, hidden: Iterable[str]) -> str:
    for value in hidden:
        text = text.replace(value, "<redacted>")
    return text


def _validation_summary(exc: ValueError, hidden: Iterable[str]) -> str:
    """``field: problem`` for each error of a pydantic ValidationError, without the input
    values it would otherwise print (a Secret's data)."""
    try:
        from pydantic import ValidationError
    except ImportError:  # kubernetes < 37 does not use pydantic
        return _redact(str(exc)[:500], hidden)
    if not isinstance(exc, ValidationError):
        return _redact(str(exc)[:500], hidden)
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = list(error["loc"])
        if loc and isinstance(loc[0], int):
            loc = loc[1:]  # the argument's position in the API method's call
        parts.append(".".join(map(str, loc)) + ": " + error["msg"])
    return "; ".join(parts)


def _tls_reason(reason: Any) -> str:
    text = str(reason or "")
    start = text.find("certificate verify failed")
    if start < 0:
        return text.replace("\n", ": ")[:200]
    return text[start:].split(" (_ssl")[0].split(")")[0].strip()


def _short(exc: BaseException) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    return text if len(text) < 200 else text[:200] + "..."


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


def opaque_secret(name: str, data: Mapping[str, str]) -> dict[str, Any]:
    """An Opaque Secret manifest (values base64 in ``data``)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "data": {k: _b64(v) for k, v in data.items()},
    }


def docker_secret(name: str, registry: str, username: str, password: str) -> dict[str, Any]:
    """A ``kubernetes.io/dockerconfigjson`` Secret manifest for one registry."""
    auths = {
        "auths": {
            registry: {
                "username": username,
                "password": password,
                "auth": _b64(f"{username}:{password}"),
            }
        }
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": _b64(json.dumps(auths))},
    }


def _b64(text: str) -> str:
    return base64.b64encode(str(text).encode()).decode()

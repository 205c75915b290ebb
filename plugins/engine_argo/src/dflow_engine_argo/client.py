"""A small client of the Argo Server REST API (``/api/v1/workflows/...``) over ``requests``.

TLS certificates are verified unless told otherwise (``verify_ssl=False``, or ``ca_file`` for a
private CA). Idempotent calls are retried with exponential backoff on 5xx answers and
connection errors; creating a workflow is retried only when the server cannot have acted on it
(connection refused, 503). Errors say what failed and what to do; the token never appears in
a message or a log line.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import requests
from dflow.engine import EngineError

log = logging.getLogger(__name__)

RETRY_STATUSES = (500, 502, 503, 504)
ACTIONS = ("terminate", "stop", "suspend", "resume", "retry", "resubmit")


class ArgoError(EngineError):
    """The Argo server failed or refused a call; ``status`` is the HTTP status (if any)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ArgoAuthError(ArgoError):
    """401/403: the token is missing, wrong or lacks a permission."""


class ArgoNotFoundError(ArgoError):
    """404: no such workflow (or archived workflow)."""


class ArgoConnectionError(ArgoError):
    """The server could not be reached (refused, timed out, TLS failure)."""


def label_selector(labels: Mapping[str, str] | None) -> str | None:
    return ",".join(f"{k}={v}" for k, v in labels.items()) if labels else None


class ArgoClient:
    """Calls of the Argo Server REST API for one host and namespace."""

    def __init__(
        self,
        host: str = "https://127.0.0.1:2746",
        namespace: str = "argo",
        token: str | None = None,
        *,
        verify_ssl: bool = True,
        ca_file: str | None = None,
        http_headers: Mapping[str, str] | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 30.0,
    ) -> None:
        self.host = host.rstrip("/")
        self.namespace = namespace
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.session = requests.Session()
        # passed on every call: a session-level setting loses to REQUESTS_CA_BUNDLE
        self.verify: bool | str = ca_file if ca_file else verify_ssl
        self.session.headers.update(dict(http_headers or {}))
        self.session.headers["Accept"] = "application/json"
        if token:
            # a bare token or one with its scheme, as `argo auth token` prints it
            value = token if token.lower().startswith("bearer ") else f"Bearer {token}"
            self.session.headers["Authorization"] = value

    @classmethod
    def from_config(cls, config: Any) -> ArgoClient:
        """A client configured from an :class:`~dflow_engine_argo.config.ArgoConfig`."""
        return cls(
            config.host,
            config.namespace,
            config.token,
            verify_ssl=config.verify_ssl,
            ca_file=config.ca_file,
            http_headers=config.http_headers,
            retries=config.retries,
            backoff=config.backoff,
            timeout=config.timeout,
        )

    def __repr__(self) -> str:
        return f"ArgoClient(host={self.host!r}, namespace={self.namespace!r})"

    # -- transport ---------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool = True,
        stream: bool = False,
        subject: str = "",
    ) -> requests.Response:
        """One call, retried as its kind allows; raises :class:`ArgoError` on failure."""
        url = self.host + path
        params = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    timeout=self.timeout,
                    stream=stream,
                    verify=self.verify,
                )
            except requests.exceptions.SSLError as exc:
                raise ArgoConnectionError(
                    f"TLS verification of the Argo server at {self.host} failed ({_reason(exc)}): "
                    "give its CA bundle with ca_file (or REQUESTS_CA_BUNDLE); for a server with "
                    "a self-signed certificate you may set verify_ssl = false (not recommended)"
                ) from None
            except requests.exceptions.ConnectionError as exc:
                # refused connections never reached the server: safe to retry any call
                never_sent = isinstance(exc, requests.exceptions.ConnectTimeout) or _refused(exc)
                if (idempotent or never_sent) and attempt <= self.retries:
                    self._pause(attempt, method, path, _reason(exc))
                    continue
                raise ArgoConnectionError(
                    f"cannot connect to the Argo server at {self.host} ({_reason(exc)}): check "
                    "that it runs and that config['host'] / DFLOW_HOST is right; for a cluster, "
                    "`kubectl -n argo port-forward svc/argo-server 2746:2746` makes it local"
                ) from None
            except requests.exceptions.Timeout:
                if idempotent and attempt <= self.retries:
                    self._pause(attempt, method, path, "timed out")
                    continue
                raise ArgoConnectionError(
                    f"the Argo server at {self.host} did not answer {method} {path} within "
                    f"{self.timeout}s (raise timeout in [engines.argo] for a slow server)"
                ) from None
            if resp.status_code in RETRY_STATUSES and attempt <= self.retries:
                if idempotent or resp.status_code == 503:
                    self._pause(attempt, method, path, f"HTTP {resp.status_code}")
                    continue
            if resp.status_code >= 400:
                raise self._error(resp, method, path, subject)
            return resp

    def _pause(self, attempt: int, method: str, path: str, why: str) -> None:
        delay = self.backoff * 2 ** (attempt - 1)
        log.warning(
            "Argo %s %s: %s; retry %d/%d in %.1fs", method, path, why, attempt, self.retries, delay
        )
        time.sleep(delay)

    def _error(self, resp: requests.Response, method: str, path: str, subject: str) -> ArgoError:
        try:
            detail = resp.json().get("message") or resp.text
        except ValueError:
            detail = resp.text
        detail = (detail or resp.reason or "").strip()[:500]
        code = resp.status_code
        if code in (401, 403):
            what = "refused the token" if code == 401 else "denied the request"
            return ArgoAuthError(
                f"the Argo server at {self.host} {what} (HTTP {code}: {detail}): set "
                "config['token'] or DFLOW_TOKEN (or token in [engines.argo]) to a valid bearer "
                f"token with access to namespace '{self.namespace}'",
                code,
            )
        if code == 404:
            subject = subject or f"{method} {path}"
            return ArgoNotFoundError(
                f"{subject} not found on the Argo server at {self.host} (namespace "
                f"'{self.namespace}'): check the id and the namespace ({detail})",
                code,
            )
        return ArgoError(
            f"the Argo server at {self.host} rejected {subject or path}: HTTP {code}: {detail}",
            code,
        )

    def _json(self, *args: Any, **kwargs: Any) -> Any:
        resp = self.request(*args, **kwargs)
        return resp.json() if resp.content else {}

    def _wf_path(self, name: str, action: str = "") -> str:
        path = f"/api/v1/workflows/{self.namespace}/{name}"
        return f"{path}/{action}" if action else path

    # -- workflows ---------------------------------------------------------------------------
    def create(self, manifest: Mapping[str, Any], server_dry_run: bool = False) -> dict[str, Any]:
        """Submit a Workflow manifest; returns the created workflow (with its name)."""
        body: dict[str, Any] = {"namespace": self.namespace, "workflow": dict(manifest)}
        if server_dry_run:
            body["serverDryRun"] = True
        # a fixed name makes a repeated create fail with "already exists" instead of duplicating
        fixed_name = bool((manifest.get("metadata") or {}).get("name"))
        return self._json(
            "POST",
            f"/api/v1/workflows/{self.namespace}",
            body=body,
            idempotent=fixed_name,
            subject="the workflow",
        )

    def get(self, name: str, fields: str | None = None) -> dict[str, Any]:
        """A workflow; ``fields`` selects parts, e.g. ``"status.phase"`` or ``"-status.nodes"``."""
        return self._json(
            "GET", self._wf_path(name), params={"fields": fields}, subject=f"workflow '{name}'"
        )

    def list(
        self, labels: Mapping[str, str] | None = None, fields: str | None = None
    ) -> list[dict[str, Any]]:
        """Workflows of the namespace, optionally those with all of ``labels``."""
        data = self._json(
            "GET",
            f"/api/v1/workflows/{self.namespace}",
            params={"listOptions.labelSelector": label_selector(labels), "fields": fields},
        )
        return data.get("items") or []  # the server answers "items": null when empty

    def delete(self, name: str) -> None:
        self.request("DELETE", self._wf_path(name), subject=f"workflow '{name}'")

    def action(self, name: str, action: str, **fields: Any) -> dict[str, Any]:
        """``PUT .../{name}/{action}`` with the documented request body."""
        if action not in ACTIONS:
            raise ValueError(f"unknown workflow action '{action}' (one of: {', '.join(ACTIONS)})")
        body = {"name": name, "namespace": self.namespace}
        body.update({k: v for k, v in fields.items() if v is not None})
        return self._json(
            "PUT",
            self._wf_path(name, action),
            body=body,
            # a resubmit creates a new workflow: never repeat it blindly
            idempotent=action != "resubmit",
            subject=f"workflow '{name}'",
        )

    def terminate(self, name: str) -> dict[str, Any]:
        return self.action(name, "terminate")

    def stop(self, name: str, message: str | None = None) -> dict[str, Any]:
        return self.action(name, "stop", message=message)

    def suspend(self, name: str) -> dict[str, Any]:
        return self.action(name, "suspend")

    def resume(self, name: str, node_field_selector: str | None = None) -> dict[str, Any]:
        return self.action(name, "resume", nodeFieldSelector=node_field_selector)

    def retry(
        self,
        name: str,
        restart_successful: bool | None = None,
        node_field_selector: str | None = None,
        parameters: list[str] | None = None,
    ) -> dict[str, Any]:
        return self.action(
            name,
            "retry",
            restartSuccessful=restart_successful,
            nodeFieldSelector=node_field_selector,
            parameters=parameters,
        )

    def resubmit(
        self, name: str, memoized: bool | None = None, parameters: list[str] | None = None
    ) -> dict[str, Any]:
        return self.action(name, "resubmit", memoized=memoized, parameters=parameters)

    def logs(
        self,
        name: str,
        pod_name: str | None = None,
        container: str = "main",
        grep: str | None = None,
    ) -> Iterator[dict[str, str]]:
        """Log entries (``{"podName", "content"}``) of a workflow or one pod, streamed."""
        resp = self.request(
            "GET",
            self._wf_path(name, "log"),
            params={"podName": pod_name, "logOptions.container": container, "grep": grep},
            stream=True,
            subject=f"workflow '{name}'",
        )
        with resp:
            for line in resp.iter_lines():
                if not line.strip():
                    continue
                entry = json.loads(line)
                if entry.get("error"):
                    err = entry["error"]
                    raise ArgoError(
                        f"log stream of workflow '{name}' failed: {err.get('message', err)}"
                    )
                yield entry.get("result") or {}

    # -- archived workflows ------------------------------------------------------------------
    def get_archived(self, uid: str) -> dict[str, Any]:
        return self._json(
            "GET",
            f"/api/v1/archived-workflows/{uid}",
            params={"namespace": self.namespace},
            subject=f"archived workflow '{uid}'",
        )

    def list_archived(
        self, labels: Mapping[str, str] | None = None, name: str | None = None
    ) -> list[dict[str, Any]]:
        selector = f"metadata.namespace={self.namespace}"
        if name:
            selector += f",metadata.name={name}"
        data = self._json(
            "GET",
            "/api/v1/archived-workflows",
            params={
                "listOptions.fieldSelector": selector,
                "listOptions.labelSelector": label_selector(labels),
            },
        )
        return data.get("items") or []


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, without URLs' noise."""
    inner: BaseException | None = exc
    while inner is not None:
        text = str(inner)
        if "Connection refused" in text:
            return "connection refused"
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            start = text.find("certificate verify failed")
            return text[start:].split(")")[0] if start >= 0 else "certificate verify failed"
        inner = (
            inner.__cause__
            or inner.__context__
            or (inner.args[0] if inner.args and isinstance(inner.args[0], BaseException) else None)
        )
    return type(exc).__name__


def _refused(exc: BaseException) -> bool:
    return _reason(exc) == "connection refused"

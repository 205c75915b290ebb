"""Calls of the Argo Server REST API through the official ``argo-workflows`` SDK.

The SDK, generated from Argo's swagger, builds each request: the operation's path and method,
its query parameter names (``listOptions.labelSelector``...), the bearer token and TLS. Bodies
and answers stay plain dicts. The SDK's typed models would check our manifests against its
own (v3.7) models, which reject fields newer than the SDK, and would hand back snake_case
objects; so a body is our dict inside the SDK's request model built with
``_check_type=False`` (serialised as it is, see :func:`_request_model`), and every call passes
``_preload_content=False`` (the raw answer is parsed as JSON, keeping Argo's camelCase).

On top of the SDK: TLS verification on unless told otherwise (``verify_ssl=False``, or
``ca_file`` for a private CA); idempotent calls retried with exponential backoff on 5xx
answers and connection errors (the SDK's own urllib3 retries are off); creating a workflow
retried only when the server cannot have acted on it (connection refused, 503); errors that
say what failed and what to do. The token never appears in a message or a log line.

``argo_workflows`` (and urllib3) are imported on the first call, never at import time.
"""

from __future__ import annotations

import builtins
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
from dflow.gc_pause import gc_paused

from .argo_errors import (
    ArgoAuthError,
    ArgoConnectionError,
    ArgoError,
    ArgoNotFoundError,
    api_body,
    api_status,
    http_error,
    reason,
    tls_error,
)
from .retry import RETRY_STATUSES, Backoff

__all__ = [
    "ACTIONS",
    "ArgoAuthError",
    "ArgoClient",
    "ArgoConnectionError",
    "ArgoError",
    "ArgoNotFoundError",
    "label_selector",
]

log = logging.getLogger(__name__)

ACTIONS = ("terminate", "stop", "suspend", "resume", "retry", "resubmit")


def label_selector(labels: Mapping[str, str] | None) -> str | None:
    return ",".join(f"{k}={v}" for k, v in labels.items()) if labels else None


@attrs.frozen
class _Sdk:
    api_client: Any
    workflows: Any  # argo_workflows WorkflowServiceApi
    archived: Any  # argo_workflows ArchivedWorkflowServiceApi


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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host = host.rstrip("/")
        self.namespace = namespace
        self.timeout = timeout
        self.backoff = Backoff(retries, backoff, sleep)
        # a CA bundle means "verify against it", whatever verify_ssl says
        self.verify_ssl = bool(ca_file) or verify_ssl
        self.ca_file = ca_file
        self.http_headers = dict(http_headers or {})
        # a bare token or one with its scheme, as `argo auth token` prints it
        self._authorization = (
            (token if token.lower().startswith("bearer ") else f"Bearer {token}") if token else None
        )
        self._sdk: _Sdk | None = None

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

    # -- the SDK -----------------------------------------------------------------------------
    def sdk(self) -> _Sdk:
        """The ``argo_workflows`` API objects, made (and the SDK imported) on first use."""
        if self._sdk is None:
            import argo_workflows
            from argo_workflows.api.archived_workflow_service_api import (
                ArchivedWorkflowServiceApi,
            )
            from argo_workflows.api.workflow_service_api import WorkflowServiceApi

            cfg = argo_workflows.Configuration(host=self.host)
            cfg.verify_ssl = self.verify_ssl
            cfg.ssl_ca_cert = self.ca_file
            cfg.retries = False  # ours decide (retry.py); urllib3 would repeat creates blindly
            if self._authorization:
                cfg.api_key["BearerToken"] = self._authorization
            api = argo_workflows.ApiClient(cfg)
            for name, value in self.http_headers.items():
                api.set_default_header(name, value)
            self._sdk = _Sdk(api, WorkflowServiceApi(api), ArchivedWorkflowServiceApi(api))
        return self._sdk

    # -- transport ---------------------------------------------------------------------------
    def _send(
        self, what: str, call: Callable[..., Any], *, idempotent: bool = True, subject: str = ""
    ) -> Any:
        """Run one SDK call (``what`` is "METHOD path", for messages), retried as its kind
        allows; returns the raw urllib3 response or raises :class:`ArgoError`."""
        from argo_workflows.exceptions import ApiException
        from urllib3.exceptions import ConnectTimeoutError, HTTPError, ReadTimeoutError

        attempt = 0
        while True:
            attempt += 1
            try:
                return call(_preload_content=False, _request_timeout=self.timeout)
            except (ApiException, AttributeError) as exc:
                status = api_status(exc)
                if status is None:
                    raise
                if status == 0:  # the SDK's wrapping of a TLS failure
                    raise tls_error(self.host, exc) from None
                if status in RETRY_STATUSES and self.backoff.allows(attempt):
                    if idempotent or status == 503:  # 503: the server did not act on it
                        self.backoff.pause(attempt, log, f"Argo {what}", f"HTTP {status}")
                        continue
                raise http_error(
                    self.host,
                    self.namespace,
                    status,
                    api_body(exc),
                    subject or what,
                    token_set=bool(self._authorization),
                ) from None
            except ConnectTimeoutError as exc:
                # refused, unresolvable or too slow to accept: the request never left here,
                # so any call may be repeated (NewConnectionError is a ConnectTimeoutError)
                if self.backoff.allows(attempt):
                    self.backoff.pause(attempt, log, f"Argo {what}", reason(exc))
                    continue
                raise ArgoConnectionError(
                    f"cannot connect to the Argo server at {self.host} ({reason(exc)}): check "
                    "that it runs and that config['host'] / DFLOW_HOST is right; for a cluster, "
                    "`kubectl -n argo port-forward svc/argo-server 2746:2746` makes it local"
                ) from None
            except ReadTimeoutError:
                if idempotent and self.backoff.allows(attempt):
                    self.backoff.pause(attempt, log, f"Argo {what}", "timed out")
                    continue
                raise ArgoConnectionError(
                    f"the Argo server at {self.host} did not answer {what} within "
                    f"{self.timeout}s (raise timeout in [engines.argo] for a slow server)"
                ) from None
            except HTTPError as exc:  # reset or cut mid-answer: the server may have acted
                if idempotent and self.backoff.allows(attempt):
                    self.backoff.pause(attempt, log, f"Argo {what}", reason(exc))
                    continue
                hint = (
                    " (if it serves HTTPS, the host must start with https://)"
                    if (self.host.startswith("http://"))
                    else ""
                )
                raise ArgoConnectionError(
                    f"the connection to the Argo server at {self.host} broke during {what} "
                    f"({reason(exc)}){hint}; check with `argo list -n {self.namespace}` "
                    "whether it acted before repeating"
                ) from None

    def _json(self, what: str, call: Callable[..., Any], **kwargs: Any) -> Any:
        resp = self._send(what, call, **kwargs)
        try:
            data = resp.data
        finally:
            resp.release_conn()
        if not data or not data.strip():
            return {}
        with gc_paused():  # a 100,000-node workflow is 60 MB of JSON: 2.3 s, 0.6-0.9 s paused
            return json.loads(data)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool = True,
        subject: str = "",
    ) -> Any:
        """Any Argo Server call by path (an operation this client does not wrap): the
        answer as JSON. Retries, errors and the token as for the other calls."""
        query = [(k, v) for k, v in (params or {}).items() if v is not None]
        api = self.sdk().api_client

        def call(**opts: Any) -> Any:
            return api.call_api(
                path,
                method,
                query_params=query,
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=opts["_preload_content"],
                _request_timeout=opts["_request_timeout"],
            )

        return self._json(f"{method} {path}", call, idempotent=idempotent, subject=subject)

    def _wf_path(self, name: str = "", action: str = "") -> str:
        path = f"/api/v1/workflows/{self.namespace}" + (f"/{name}" if name else "")
        return f"{path}/{action}" if action else path

    # -- workflows ---------------------------------------------------------------------------
    def create(self, manifest: Mapping[str, Any], server_dry_run: bool = False) -> dict[str, Any]:
        """Submit a Workflow manifest; returns the created workflow (with its name)."""
        body: dict[str, Any] = {"namespace": self.namespace, "workflow": dict(manifest)}
        if server_dry_run:
            body["serverDryRun"] = True
        request = _request_model("WorkflowCreateRequest", body)
        # a fixed name makes a repeated create fail with "already exists" instead of duplicating
        fixed_name = bool((manifest.get("metadata") or {}).get("name"))
        api = self.sdk().workflows
        return self._json(
            f"POST {self._wf_path()}",
            lambda **o: api.create_workflow(self.namespace, request, **o),
            idempotent=fixed_name,
            subject="the workflow",
        )

    def get(self, name: str, fields: str | None = None) -> dict[str, Any]:
        """A workflow; ``fields`` selects parts, e.g. ``"status.phase"`` or ``"-status.nodes"``."""
        api = self.sdk().workflows
        opts = {"fields": fields} if fields else {}
        return self._json(
            f"GET {self._wf_path(name)}",
            lambda **o: api.get_workflow(self.namespace, name, **opts, **o),
            subject=f"workflow '{name}'",
        )

    def list(
        self, labels: Mapping[str, str] | None = None, fields: str | None = None
    ) -> list[dict[str, Any]]:
        """Workflows of the namespace, optionally those with all of ``labels``."""
        api = self.sdk().workflows
        opts = _given(list_options_label_selector=label_selector(labels), fields=fields)
        data = self._json(
            f"GET {self._wf_path()}",
            lambda **o: api.list_workflows(self.namespace, **opts, **o),
        )
        return data.get("items") or []  # the server answers "items": null when empty

    def delete(self, name: str) -> None:
        api = self.sdk().workflows
        self._json(
            f"DELETE {self._wf_path(name)}",
            lambda **o: api.delete_workflow(self.namespace, name, **o),
            subject=f"workflow '{name}'",
        )

    def action(self, name: str, action: str, **fields: Any) -> dict[str, Any]:
        """``PUT .../{name}/{action}`` with the documented request body."""
        if action not in ACTIONS:
            raise ValueError(f"unknown workflow action '{action}' (one of: {', '.join(ACTIONS)})")
        body = {"name": name, "namespace": self.namespace}
        body.update({k: v for k, v in fields.items() if v is not None})
        method = getattr(self.sdk().workflows, f"{action}_workflow")
        request = _request_model(f"Workflow{action.capitalize()}Request", body)
        return self._json(
            f"PUT {self._wf_path(name, action)}",
            lambda **o: method(self.namespace, name, request, **o),
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
        parameters: builtins.list[str] | None = None,  # list: the method below
    ) -> dict[str, Any]:
        return self.action(
            name,
            "retry",
            restartSuccessful=restart_successful,
            nodeFieldSelector=node_field_selector,
            parameters=parameters,
        )

    def resubmit(
        self, name: str, memoized: bool | None = None, parameters: builtins.list[str] | None = None
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
        api = self.sdk().workflows
        opts = _given(pod_name=pod_name, log_options_container=container, grep=grep)
        resp = self._send(
            f"GET {self._wf_path(name, 'log')}",
            lambda **o: api.workflow_logs(self.namespace, name, **opts, **o),
            subject=f"workflow '{name}'",
        )
        try:
            for line in _lines(resp):
                if not line.strip():
                    continue
                entry = json.loads(line)
                if entry.get("error"):
                    err = entry["error"]
                    raise ArgoError(
                        f"log stream of workflow '{name}' failed: {err.get('message', err)}"
                    )
                yield entry.get("result") or {}
        finally:
            resp.release_conn()

    # -- archived workflows ------------------------------------------------------------------
    def get_archived(self, uid: str) -> dict[str, Any]:
        api = self.sdk().archived
        return self._json(
            f"GET /api/v1/archived-workflows/{uid}",
            lambda **o: api.get_archived_workflow(uid, namespace=self.namespace, **o),
            subject=f"archived workflow '{uid}'",
        )

    def list_archived(
        self, labels: Mapping[str, str] | None = None, name: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        selector = f"metadata.namespace={self.namespace}"
        if name:
            selector += f",metadata.name={name}"
        api = self.sdk().archived
        opts = _given(
            list_options_field_selector=selector,
            list_options_label_selector=label_selector(labels),
        )
        data = self._json(
            "GET /api/v1/archived-workflows",
            lambda **o: api.list_archived_workflows(**opts, **o),
        )
        return data.get("items") or []


def _given(**params: Any) -> dict[str, Any]:
    # an optional parameter left out, not sent empty
    return {k: v for k, v in params.items() if v is not None}


def _request_model(name: str, body: Mapping[str, Any]) -> Any:
    """The SDK's request model ``IoArgoprojWorkflowV1alpha1<name>`` around our dict.

    ``_spec_property_naming`` takes Argo's camelCase names; ``_check_type=False`` keeps the
    workflow a plain dict, serialised as it is: the SDK's Workflow model knows v3.7 fields
    only and would refuse a v4 manifest. (Endpoint input checks cannot be switched off
    instead: argo-workflows 6.7 then rejects its own defaults for ``_content_type`` and
    ``_host_index``.)
    """
    import importlib

    snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    module = importlib.import_module(f"argo_workflows.model.io_argoproj_workflow_v1alpha1_{snake}")
    cls = getattr(module, f"IoArgoprojWorkflowV1alpha1{name}")
    return cls(**body, _check_type=False, _spec_property_naming=True)


def _lines(resp: Any) -> Iterator[bytes]:
    """The lines of a streamed answer, as they arrive."""
    rest = b""
    for chunk in resp.stream(1 << 16):
        rest += chunk
        *lines, rest = rest.split(b"\n")
        yield from lines
    if rest:
        yield rest

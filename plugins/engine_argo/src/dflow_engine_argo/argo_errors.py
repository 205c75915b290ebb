"""The errors of the Argo Server client, and how the SDK's failures become them.

Each message says what failed (host, namespace, workflow), why, and what to set; none shows
the token.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dflow.engine import EngineError


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


def tls_error(host: str, exc: BaseException) -> ArgoConnectionError:
    """The message for a TLS failure the SDK reported (``exc``)."""
    text = sdk_reason(exc)
    if "certificate verify failed" in text:
        return ArgoConnectionError(
            f"TLS verification of the Argo server at {host} failed ({reason(exc)}): "
            "give its CA bundle with ca_file in [engines.argo] (or SSL_CERT_FILE); for a "
            "server with a self-signed certificate you may set verify_ssl = false (not "
            "recommended)"
        )
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return ArgoConnectionError(
            f"the Argo server at {host} does not speak TLS there: if it serves plain "
            "HTTP (argo server --secure=false), the host must start with http://"
        )
    detail = text.replace("\n", ": ").strip()[:300]
    return ArgoConnectionError(f"TLS with the Argo server at {host} failed ({detail})")


def http_error(
    host: str, namespace: str, code: int, body: str, subject: str, *, token_set: bool
) -> ArgoError:
    """The error for an HTTP error answer about ``subject`` (what was asked for)."""
    try:
        detail = json.loads(body).get("message") or body
    except (ValueError, AttributeError):
        detail = body
    detail = (detail or "").strip()[:500]
    if code == 401 and not token_set:
        return ArgoAuthError(
            f"the Argo server at {host} wants a token and none is set (HTTP 401: "
            f"{detail}): set DFLOW_TOKEN (or config['token'], or token in [engines.argo]) "
            f"to a bearer token with access to namespace '{namespace}'",
            code,
        )
    if code in (401, 403):
        verb = "refused the token" if code == 401 else "denied the request"
        return ArgoAuthError(
            f"the Argo server at {host} {verb} (HTTP {code}: {detail}): set "
            "config['token'] or DFLOW_TOKEN (or token in [engines.argo]) to a valid bearer "
            f"token with access to namespace '{namespace}'",
            code,
        )
    if code == 404:
        return ArgoNotFoundError(
            f"{subject} not found on the Argo server at {host} (namespace "
            f"'{namespace}'): check the id and the namespace ({detail})",
            code,
        )
    return ArgoError(
        f"the Argo server at {host} rejected {subject}: HTTP {code}: {detail}",
        code,
    )


def sdk_exception(exc: BaseException) -> Any:
    """The SDK's ``ApiException`` behind ``exc``, or None.

    argo-workflows 6.x turns a TLS failure into ``ApiException(status=0)`` whose body is
    None, then fails on ``body.decode()``: that AttributeError carries it as its context.
    """
    from argo_workflows.exceptions import ApiException

    if isinstance(exc, AttributeError):
        exc = exc.__context__  # type: ignore[assignment]
    return exc if isinstance(exc, ApiException) else None


def api_status(exc: BaseException) -> int | None:
    """The HTTP status of an SDK error; 0 for a TLS failure; None when not the SDK's."""
    api = sdk_exception(exc)
    return None if api is None else api.status


def sdk_reason(exc: BaseException) -> str:
    """The ``reason`` of the SDK's error behind ``exc`` (the text of a TLS failure)."""
    api = sdk_exception(exc)
    return str(exc) if api is None else str(api.reason or "")


def api_body(exc: BaseException) -> str:
    """The body of the SDK's error answer (str from argo-workflows 6.x, bytes before)."""
    api = sdk_exception(exc)
    body = None if api is None else api.body
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")


def reason(exc: BaseException | None) -> str:
    """The innermost cause of a urllib3/SDK error, without URLs' noise."""
    first = exc
    while exc is not None:
        text = str(exc) + " " + str(getattr(exc, "reason", "") or "")
        if "Connection refused" in text:
            return "connection refused"
        if "certificate verify failed" in text:
            start = text.find("certificate verify failed")
            return re.split(r" \(_ssl|\)|\n", text[start:])[0].strip()
        if "Failed to resolve" in text or "Name or service not known" in text:
            return "the host name does not resolve"
        exc = exc.__cause__ or exc.__context__
    return f"{type(first).__name__}: {str(first)[:200]}"

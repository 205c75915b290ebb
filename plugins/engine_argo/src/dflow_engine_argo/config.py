"""The ``[engines.argo]`` configuration section."""

from __future__ import annotations

from typing import Any

import attrs


def _from_dflow_config(key: str, default: Any) -> Any:
    # read at construction time, so set_config()/DFLOW_* changes made before are honoured;
    # tolerate a core without dflow.config (the engine works from its own section then)
    try:
        from dflow.config import config
    except ImportError:
        return default
    value = config.get(key)
    return default if value is None else value


def _default(key: str, default: Any) -> Any:
    return attrs.Factory(lambda: _from_dflow_config(key, default))


@attrs.define
class ArgoConfig:
    """How to reach the Argo Server (and Kubernetes, for pods and ConfigMaps).

    ``host``, ``namespace``, ``token``, ``http_headers`` and the ``k8s_*`` keys default to
    ``dflow.config`` (``DFLOW_HOST``, ``DFLOW_NAMESPACE``, ``DFLOW_TOKEN``...). TLS
    certificates are verified unless ``verify_ssl = false``; ``ca_file`` names a CA bundle
    for a server with a private certificate.

    ``service_account_name`` is the ``spec.serviceAccountName`` of every rendered workflow
    (pydflow's fixed ``argo``); ``""`` leaves it out, so pods run as the namespace's default
    service account. It applies to ``Workflow.to_yaml()`` too: without a
    ``[renderers.argo]`` section the renderer takes the ``[engines.argo]`` one.
    """

    host: str = _default("host", "https://127.0.0.1:2746")
    namespace: str = _default("namespace", "argo")
    token: str | None = attrs.field(default=_default("token", None), repr=False)
    verify_ssl: bool = True
    ca_file: str | None = None
    k8s_api_server: str | None = _default("k8s_api_server", None)
    k8s_config_file: str | None = _default("k8s_config_file", None)
    http_headers: dict[str, str] = attrs.field(
        default=_default("http_headers", {}), repr=lambda h: repr(sorted(h))
    )
    retries: int = 3
    backoff: float = 0.5
    timeout: float = 30.0
    poll_interval: float = 1.0
    lint: bool = True
    service_account_name: str = "argo"

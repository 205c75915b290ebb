"""Where Kubernetes credentials come from, loaded by the official ``kubernetes`` package.

After an explicit ``k8s_api_server`` (handled by :class:`~.k8s.KubeClient`), the first found
wins, as kubectl and client-go look: the kubeconfig ``k8s_config_file``; ``$KUBECONFIG``
(a list of files, merged); ``~/.kube/config``; the service account of the pod this runs in
(``KUBERNETES_SERVICE_HOST`` and the token and CA files Kubernetes mounts). A kubeconfig's
current context decides the server, its CA and the user: a token, a token file, a client
certificate, or an ``exec`` credential plugin (``aws eks get-token``,
``gke-gcloud-auth-plugin``) whose token is fetched again when it expires.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from dflow.engine import EngineError

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def load(
    config: Any, environ: Mapping[str, str] | None, service_account_dir: str
) -> tuple[Any, str]:
    """A ``kubernetes.client.Configuration`` and the setting it came from (for messages)."""
    environ = os.environ if environ is None else environ
    if config.k8s_config_file:
        path = os.path.expanduser(config.k8s_config_file)
        return _kubeconfig(path, f"k8s_config_file {path}"), f"k8s_config_file {path}"
    if environ.get("KUBECONFIG"):
        origin = f"KUBECONFIG={environ['KUBECONFIG']}"
        return _kubeconfig(environ["KUBECONFIG"], origin), origin
    default = os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".kube", "config")
    if os.path.exists(default):
        return _kubeconfig(default, f"kubeconfig {default}"), f"kubeconfig {default}"
    if environ.get("KUBERNETES_SERVICE_HOST"):
        origin = f"the pod's service account ({service_account_dir})"
        return _in_cluster(environ, service_account_dir, origin), origin
    raise EngineError(
        "this workflow needs Kubernetes objects (a memoize ConfigMap for reuse_step, or "
        "Secrets that carry values) but no Kubernetes API is configured: set "
        "k8s_api_server (DFLOW_K8S_API_SERVER, with token) or k8s_config_file "
        "(DFLOW_K8S_CONFIG_FILE, a kubeconfig) in config or in [engines.argo], or KUBECONFIG "
        f"(there is no {default}, and this is not a pod with a service account)"
    )


class _Errors(logging.Handler):
    """Collects the errors the kubeconfig loader logs instead of raising (a failed exec
    plugin is logged, then the user is left without credentials)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _kubeconfig(paths: str, origin: str) -> Any:
    from kubernetes import client
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    if not any(os.path.exists(p) for p in paths.split(os.pathsep) if p):
        raise EngineError(f"{origin}: no such file; give the path of a kubeconfig")
    cfg = client.Configuration()
    errors = _Errors()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        kube_config.load_kube_config(
            config_file=paths, client_configuration=cfg, persist_config=False
        )
    except (ConfigException, OSError, ValueError) as exc:
        raise EngineError(
            f"cannot use {origin}: {exc}; check it with `kubectl config view`"
        ) from None
    finally:
        root.removeHandler(errors)
    if errors.messages and not (cfg.api_key or cfg.cert_file or cfg.username):
        raise EngineError(
            f"{origin}: the current context's user has no credentials: "
            f"{errors.messages[-1].strip()[:500]}. An exec credential plugin must exit 0 and "
            "print an ExecCredential with status.token; run its command by hand to see why "
            "it failed"
        )
    return cfg


def _in_cluster(environ: Mapping[str, str], folder: str, origin: str) -> Any:
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader

    cfg = client.Configuration()
    loader = InClusterConfigLoader(
        token_filename=os.path.join(folder, "token"),
        cert_filename=os.path.join(folder, "ca.crt"),
        environ=environ,
    )
    try:
        loader.load_and_set(cfg)
    except ConfigException as exc:
        raise EngineError(
            f"cannot use {origin}: {exc}; run in a pod whose service account token is "
            "mounted (automountServiceAccountToken), or set k8s_api_server / k8s_config_file"
        ) from None
    return cfg

"""Constants and small helpers shared by the pod emulation's modules."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]

# workflow/common/common.go (v3.7.18): paths inside a pod
VAR_RUN_ARGO = "/var/run/argo"
SCRIPT_PATH = "/argo/staging/script"  # ExecutorScriptSourcePath
STAGING_DIR = "/argo/staging"  # ExecutorStagingEmptyDir
PROGRESS_PATH = VAR_RUN_ARGO + "/progress"  # ArgoProgressPath
MAIN = "main"  # MainContainerName
# workflow/common/common.go (v3.7.18) MaxEnvVarLen: above it ARGO_TEMPLATE and args are offloaded
MAX_ENV_VAR_LEN = 131072
# k8s.io/api validation (MaxConfigMapSize... core/validation.go): a ConfigMap's data, in bytes
MAX_CONFIGMAP_BYTES = 1024 * 1024


class HarnessError(RuntimeError):
    """The emulation cannot run this pod faithfully (a test-setup problem, not a pod phase)."""


def cache_dir() -> Path:
    """Where built images are cached: ``$DFLOW_CONFORMANCE_CACHE`` or ``<repo>/.work/conformance``."""
    return Path(os.environ.get("DFLOW_CONFORMANCE_CACHE") or REPO / ".work" / "conformance")


def rfc3339(ts: float | None = None) -> str:
    """A time as Kubernetes serialises metav1.Time (whole seconds, UTC)."""
    when = datetime.fromtimestamp(ts, UTC) if ts is not None else datetime.now(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")

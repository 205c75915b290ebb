"""pydflow import path `dflow.workflow` (the code lives in `dflow.model.workflow`)."""

from .model.workflow import (
    Workflow,
)

__all__ = [
    "Workflow",
]

import logging

from ._compat import module_getattr
from .model.op_template import DockerSecret
from .queries import query_archived_workflows, query_workflows

logger = logging.getLogger(__name__)

__all__ += ["DockerSecret", "query_archived_workflows", "query_workflows"]

_NO_REPO = (
    "the artifact-repositories ConfigMap is not read: choose the store in dflow.toml "
    "(storage = ..., [storages.<name>]) and pass Workflow(artifact_repo_key=...) for Argo"
)
__getattr__ = module_getattr(
    __name__,
    refused={
        "parse_repo": _NO_REPO,
        "get_argo_api_client": "the argo engine plugin owns its client (dflow_engine_argo.client); "
        "use Workflow methods or dflow.backends.get_engine('argo')",
    },
)

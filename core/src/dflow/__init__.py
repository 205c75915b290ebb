"""dflow: scientific-computing workflows that run locally, on Slurm and on Argo.

Names are imported on first use, so ``import dflow`` stays fast and a core-only install works:
names that live in plugins (``SlurmJobTemplate``...) say which distribution to install. This
module is part of the pod runtime (Python 3.7+, see :mod:`dflow.runner.podimport`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# bound eagerly: the dicts must shadow the ``dflow.config`` submodule name whatever imports first
from .config import config, s3_config, set_config, set_s3_config  # noqa: F401

_EXPORTS: dict[str, str] = {
    # model
    "AutonamedDict": "dflow.model.io",
    "IfExpression": "dflow.model.io",
    "InputArtifact": "dflow.model.io",
    "InputParameter": "dflow.model.io",
    "Inputs": "dflow.model.io",
    "OutputArtifact": "dflow.model.io",
    "OutputParameter": "dflow.model.io",
    "Outputs": "dflow.model.io",
    "if_expression": "dflow.model.io",
    "OPTemplate": "dflow.model.op_template",
    "ScriptOPTemplate": "dflow.model.op_template",
    "PythonScriptOPTemplate": "dflow.model.op_template",
    "ShellOPTemplate": "dflow.model.op_template",
    "HTTPOPTemplate": "dflow.model.op_template",
    "Secret": "dflow.model.op_template",
    "DockerSecret": "dflow.model.op_template",
    "randstr": "dflow.model.op_template",
    "argo_len": "dflow.model.helpers",
    "argo_range": "dflow.model.helpers",
    "argo_sequence": "dflow.model.helpers",
    "argo_sum": "dflow.model.helpers",
    "argo_concat": "dflow.model.helpers",
    "argo_enumerate": "dflow.model.helpers",
    "Step": "dflow.model.step",
    "Task": "dflow.model.step",
    "HookStep": "dflow.model.step",
    "Steps": "dflow.model.steps",
    "DAG": "dflow.model.dag",
    "Workflow": "dflow.model.workflow",
    "query_workflows": "dflow.queries",
    "query_archived_workflows": "dflow.queries",
    "gen_code": "dflow.queries",
    # extension points
    "Executor": "dflow.executor",
    "RemoteExecutor": "dflow.executor",
    "ContainerExecutor": "dflow.executor",
    "Context": "dflow.context",
    "Resource": "dflow.resource",
    "LineageClient": "dflow.lineage",
    "hookimpl": "dflow.plugins",
    # artifacts and storage
    "S3Artifact": "dflow.storage",
    "LocalArtifact": "dflow.storage",
    "HTTPArtifact": "dflow.storage",
    "CustomArtifact": "dflow.storage",
    "upload_artifact": "dflow.storage",
    "download_artifact": "dflow.storage",
    "copy_artifact": "dflow.storage",
    "upload_s3": "dflow.storage",
    "download_s3": "dflow.storage",
    "copy_s3": "dflow.storage",
    "path_list_of_artifact": "dflow.storage",
    "path_object_of_artifact": "dflow.storage",
    # query results
    "ArgoStep": "dflow.argo_objects",
    "ArgoWorkflow": "dflow.argo_objects",
    "ValidationError": "dflow.validation",
    # importable from pydflow's package, outside its __all__
    "import_func": "dflow.utils",
}

if TYPE_CHECKING:  # what type checkers see of the lazy exports (a test keeps them equal)
    from .argo_objects import ArgoStep as ArgoStep, ArgoWorkflow as ArgoWorkflow
    from .context import Context as Context
    from .executor import (
        ContainerExecutor as ContainerExecutor,
        Executor as Executor,
        RemoteExecutor as RemoteExecutor,
    )
    from .lineage import LineageClient as LineageClient
    from .model.dag import DAG as DAG
    from .model.helpers import (
        argo_concat as argo_concat,
        argo_enumerate as argo_enumerate,
        argo_len as argo_len,
        argo_range as argo_range,
        argo_sequence as argo_sequence,
        argo_sum as argo_sum,
    )
    from .model.io import (
        AutonamedDict as AutonamedDict,
        if_expression as if_expression,
        IfExpression as IfExpression,
        InputArtifact as InputArtifact,
        InputParameter as InputParameter,
        Inputs as Inputs,
        OutputArtifact as OutputArtifact,
        OutputParameter as OutputParameter,
        Outputs as Outputs,
    )
    from .model.op_template import (
        DockerSecret as DockerSecret,
        HTTPOPTemplate as HTTPOPTemplate,
        OPTemplate as OPTemplate,
        PythonScriptOPTemplate as PythonScriptOPTemplate,
        randstr as randstr,
        ScriptOPTemplate as ScriptOPTemplate,
        Secret as Secret,
        ShellOPTemplate as ShellOPTemplate,
    )
    from .model.step import HookStep as HookStep, Step as Step, Task as Task
    from .model.steps import Steps as Steps
    from .model.workflow import Workflow as Workflow
    from .plugins import hookimpl as hookimpl
    from .queries import (
        gen_code as gen_code,
        query_archived_workflows as query_archived_workflows,
        query_workflows as query_workflows,
    )
    from .resource import Resource as Resource
    from .storage import (
        copy_artifact as copy_artifact,
        copy_s3 as copy_s3,
        CustomArtifact as CustomArtifact,
        download_artifact as download_artifact,
        download_s3 as download_s3,
        HTTPArtifact as HTTPArtifact,
        LocalArtifact as LocalArtifact,
        path_list_of_artifact as path_list_of_artifact,
        path_object_of_artifact as path_object_of_artifact,
        S3Artifact as S3Artifact,
        upload_artifact as upload_artifact,
        upload_s3 as upload_s3,
    )
    from .utils import import_func as import_func
    from .validation import ValidationError as ValidationError

#: names provided by plugins (resolved by dflow._compat with an install hint)
_PLUGIN_NAMES = ("SlurmJob", "SlurmJobTemplate", "SlurmRemoteExecutor")

# plugin-provided names stay out of __all__ so ``from dflow import *`` works on a core install
__all__ = sorted([*_EXPORTS, "config", "s3_config", "set_config", "set_s3_config", "jsonpickle"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif name == "jsonpickle" or name in _PLUGIN_NAMES:
        try:
            value = _optional(name)
        except Exception as exc:
            value = _in_pod_placeholder(name, exc)
    elif name == "log_level":  # pydflow read LOG_LEVEL at import; the dflow command applies it
        import os

        return os.environ.get("LOG_LEVEL")
    elif name == "parse_repo":
        from ._compat import not_provided

        raise not_provided(
            "dflow.parse_repo",
            "the artifact-repositories ConfigMap is not read: choose the store in dflow.toml "
            "(storage = ..., [storages.<name>]) and pass Workflow(artifact_repo_key=...) for Argo",
        )
    else:
        raise AttributeError(f"module 'dflow' has no attribute '{name}'")
    globals()[name] = value
    return value


def _optional(name: str) -> Any:
    if name == "jsonpickle":
        return importlib.import_module("jsonpickle")
    from ._compat import lazy_attr

    return lazy_attr(name)


def _in_pod_placeholder(name: str, exc: Exception) -> Any:
    """Inside ``python -m dflow.runner`` a name that cannot import is an inert placeholder
    (see :mod:`dflow.runner.podimport`); elsewhere the error propagates."""
    import sys

    podimport = sys.modules.get("dflow.runner.podimport")
    if podimport is None or not podimport.installed():
        raise exc
    return podimport.placeholder(
        f"dflow.{name}", f"it did not import ({type(exc).__name__}: {exc})"
    )


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

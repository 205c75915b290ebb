"""pydflow import path `dflow.op_template` (the code lives in `dflow.model.op_template`)."""

from .model.op_template import (
    ContainerOPTemplate,
    DockerSecret,
    HTTPOPTemplate,
    OPTemplate,
    PythonScriptOPTemplate,
    ScriptOPTemplate,
    Secret,
    ShellOPTemplate,
    randstr,
)

__all__ = [
    "OPTemplate",
    "ScriptOPTemplate",
    "ShellOPTemplate",
    "PythonScriptOPTemplate",
    "ContainerOPTemplate",
    "HTTPOPTemplate",
    "Secret",
    "DockerSecret",
    "randstr",
]

from ._compat import module_getattr

__getattr__ = module_getattr(
    __name__,
    refused={
        "get_k8s_client": "the argo engine plugin talks to Kubernetes itself (dflow_engine_argo.k8s),"
        " configured by config['k8s_api_server'] / config['k8s_config_file'] or "
        "[engines.argo] in dflow.toml",
    },
)

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

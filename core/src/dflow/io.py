"""pydflow import path `dflow.io` (the code lives in `dflow.model.io`)."""

from .model.io import (
    FORBIDDEN_ARTIFACT_PATHS,
    PVC,
    ArgoVar,
    AutonamedDict,
    IfExpression,
    InputArtifact,
    InputArtifacts,
    InputParameter,
    InputParameters,
    Inputs,
    OutputArtifact,
    OutputArtifacts,
    OutputParameter,
    OutputParameters,
    Outputs,
    if_expression,
    render_value,
    to_expr,
)

__all__ = [
    "ArgoVar",
    "IfExpression",
    "if_expression",
    "InputParameter",
    "InputArtifact",
    "OutputParameter",
    "OutputArtifact",
    "Inputs",
    "Outputs",
    "AutonamedDict",
    "PVC",
]

from .argo_objects import ArgoObjectDict as ObjectDict
from .python.opio import type_str as type_to_str

#: input artifacts may not be mounted at these paths
NotAllowedInputArtifactPath = list(FORBIDDEN_ARTIFACT_PATHS)
convert_value_to_str = render_value

__all__ += [
    "InputArtifacts",
    "InputParameters",
    "NotAllowedInputArtifactPath",
    "ObjectDict",
    "OutputArtifacts",
    "OutputParameters",
    "convert_value_to_str",
    "to_expr",
    "type_to_str",
]

from ._compat import module_getattr  # noqa: E402

__getattr__ = module_getattr(
    __name__,
    refused={
        "Expression": "expressions are ArgoVar objects (parameter arithmetic, if_expression), "
        "evaluated with dflow.expressions on both engines",
    },
)

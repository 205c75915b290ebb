"""pydflow import path `dflow.io` (the code lives in `dflow.model.io`)."""

from .model.io import (
    ArgoVar,
    IfExpression,
    if_expression,
    InputParameter,
    InputArtifact,
    OutputParameter,
    OutputArtifact,
    Inputs,
    Outputs,
    AutonamedDict,
    PVC,
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

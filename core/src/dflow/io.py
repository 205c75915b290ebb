"""pydflow import path `dflow.io` (the code lives in `dflow.model.io`)."""

from .model.io import (
    PVC,
    ArgoVar,
    AutonamedDict,
    IfExpression,
    InputArtifact,
    InputParameter,
    Inputs,
    OutputArtifact,
    OutputParameter,
    Outputs,
    if_expression,
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

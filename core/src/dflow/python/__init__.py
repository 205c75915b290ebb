"""OP authoring: ``OP``, ``OPIO``, signs, ``PythonOPTemplate``, ``Slices``."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "OP": "dflow.python.op",
    "OPIO": "dflow.python.opio",
    "OPIOSign": "dflow.python.opio",
    "Artifact": "dflow.python.opio",
    "Parameter": "dflow.python.opio",
    "BigParameter": "dflow.python.opio",
    "NestedDict": "dflow.python.opio",
    "HDF5Datasets": "dflow.python.opio",
    "TransientError": "dflow.python.errors",
    "FatalError": "dflow.python.errors",
    "PythonOPTemplate": "dflow.python.template",
    "upload_packages": "dflow.python.template",
    "Slices": "dflow.python.slices",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dflow.python' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

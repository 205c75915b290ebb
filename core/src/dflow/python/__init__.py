"""OP authoring: ``OP``, ``OPIO``, signs, ``PythonOPTemplate``, ``Slices``.

Everything here but ``PythonOPTemplate`` (``dflow.python.template``, which needs the model) is
part of the pod runtime and imports on Python 3.7+ with the standard library alone.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    "Slices": "dflow.python.slices",
}

if TYPE_CHECKING:  # what type checkers see of the lazy exports (a test keeps them equal)
    from .errors import FatalError as FatalError, TransientError as TransientError
    from .op import OP as OP
    from .opio import (
        Artifact as Artifact,
        BigParameter as BigParameter,
        HDF5Datasets as HDF5Datasets,
        NestedDict as NestedDict,
        OPIO as OPIO,
        OPIOSign as OPIOSign,
        Parameter as Parameter,
    )
    from .slices import Slices as Slices
    from .template import PythonOPTemplate as PythonOPTemplate

#: paths (files or package dirs) shipped with every PythonOPTemplate (pydflow's global list;
#: defined here so that ``upload_packages.append(...)`` in an OP's module also runs in a pod)
upload_packages: list[str] = []

__all__ = sorted([*_EXPORTS, "upload_packages"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dflow.python' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

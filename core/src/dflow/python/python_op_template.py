"""pydflow import path ``dflow.python.python_op_template`` (part of the pod runtime:
``PythonOPTemplate`` is imported on first use, as in ``dflow.python``)."""

from __future__ import annotations

from typing import Any

from . import upload_packages
from .errors import FatalError, TransientError
from .slices import Slices

__all__ = ["FatalError", "PythonOPTemplate", "Slices", "TransientError", "upload_packages"]  # noqa: F822

_REFUSED = {
    "PicklableFunctionOP": "function OPs (OP.function) run as they are on every engine",
    "handle_packages_script": "python_packages and upload_packages are put on sys.path by "
    "the engine that runs the step",
}


def __getattr__(name: str) -> Any:
    if name == "PythonOPTemplate":
        from .template import PythonOPTemplate

        return PythonOPTemplate
    from .._compat import module_getattr  # the client's refusals (not needed in a pod)

    return module_getattr(__name__, refused=_REFUSED)(name)

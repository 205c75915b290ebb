"""pydflow import path ``dflow.python.python_op_template``."""

from .errors import FatalError, TransientError
from .slices import Slices
from .template import PythonOPTemplate, upload_packages

__all__ = ["FatalError", "PythonOPTemplate", "Slices", "TransientError", "upload_packages"]

from .._compat import module_getattr  # noqa: E402

__getattr__ = module_getattr(__name__, refused={
    "PicklableFunctionOP": "function OPs (OP.function) run as they are on every engine",
    "handle_packages_script": "python_packages and upload_packages are put on sys.path by "
                              "the engine that runs the step",
})

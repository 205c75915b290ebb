"""pydflow import path ``dflow.python.python_op_template``."""

from .errors import FatalError, TransientError
from .slices import Slices
from .template import PythonOPTemplate, upload_packages

__all__ = ["FatalError", "PythonOPTemplate", "Slices", "TransientError", "upload_packages"]

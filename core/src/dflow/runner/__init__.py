"""The OP runner: run a Python OP given an inputs directory, write its outputs directory.

Every engine runs Python OPs through ``run_op`` (in process) or ``python -m dflow.runner``
(in a container or an HPC job), so an OP behaves identically everywhere.
"""

from __future__ import annotations

from .core import run_op
from .locate import load_op_file, locate_op
from .result import EXIT_ERROR, EXIT_FATAL, EXIT_OK, EXIT_TRANSIENT, OPResult

__all__ = [
    "EXIT_FATAL",
    "EXIT_OK",
    "EXIT_TRANSIENT",
    "EXIT_ERROR",
    "OPResult",
    "load_op_file",
    "locate_op",
    "run_op",
]

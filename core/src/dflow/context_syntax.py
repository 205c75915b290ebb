"""pydflow's ``dflow.context_syntax`` (the global "current workflow" of ``with`` blocks).

Not provided: ``with Workflow(...)``, ``with Steps(...)`` and ``with DAG(...)`` add the steps
built inside them (see :mod:`dflow.model.context`), without a global object to import.
"""

from __future__ import annotations

from ._compat import module_getattr

_INSTEAD = (
    "build steps inside `with Workflow(...)`, `with Steps(...)` or `with DAG(...)` blocks and "
    "they are added automatically; dflow keeps no global context object"
)
__getattr__ = module_getattr(
    __name__,
    refused={
        n: _INSTEAD for n in ("GLOBAL_CONTEXT", "GLOBAL_RANGE_CONTEXT", "Range_Context", "dflow")
    },
)

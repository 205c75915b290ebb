"""pydflow's ``dflow.plugins.ray``: pydflow's RayClusterExecutor. Not provided.

Importing this module raises :class:`dflow._compat.NotProvidedError` saying what to use instead.
"""

from __future__ import annotations

from dflow._compat import not_provided

raise not_provided(
    "dflow.plugins.ray",
    "dflow has no Ray executor: call ray from your OP, or publish an executor plugin (see templates/ for one)",
)

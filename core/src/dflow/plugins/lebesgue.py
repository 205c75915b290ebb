"""pydflow's ``dflow.plugins.lebesgue``: pydflow's LebesgueExecutor/LebesgueContext (deprecated there too). Not provided.

Importing this module raises :class:`dflow._compat.NotProvidedError` saying what to use instead.
"""

from __future__ import annotations

from dflow._compat import not_provided

raise not_provided(
    "dflow.plugins.lebesgue",
    "use DispatcherExecutor (pip install dflow-executor-dispatcher)",
)

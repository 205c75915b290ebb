"""pydflow's ``dflow.plugins.launching``: pydflow's OP_to_parser (dp.launching command-line apps). Not provided.

Importing this module raises :class:`dflow._compat.NotProvidedError` saying what to use instead.
"""

from __future__ import annotations

from dflow._compat import not_provided

raise not_provided(
    "dflow.plugins.launching",
    "dflow has no dp.launching integration: build your CLI from OP.get_input_sign()",
)

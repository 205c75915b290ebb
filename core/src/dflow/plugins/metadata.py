"""pydflow's ``dflow.plugins.metadata``: pydflow's MetadataClient (dp.metadata lineage). Not provided.

Importing this module raises :class:`dflow._compat.NotProvidedError` saying what to use instead.
"""

from __future__ import annotations

from dflow._compat import not_provided

raise not_provided(
    "dflow.plugins.metadata",
    "implement dflow.LineageClient for your metadata service and set config['lineage']",
)

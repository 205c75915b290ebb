"""pydflow's ``dflow.plugins.datasets``: pydflow's DatasetsArtifact (rclone-mounted launching datasets). Not provided.

Importing this module raises :class:`dflow._compat.NotProvidedError` saying what to use instead.
"""

from __future__ import annotations

from dflow._compat import not_provided

raise not_provided(
    "dflow.plugins.datasets",
    "dflow does not mount datasets: download them with your platform's client in the step, or implement a CustomArtifact registered in config['artifact_register']",
)

"""``LineageClient``: where lineage plugins register workflows, tasks and artifacts."""

from __future__ import annotations

import abc
from typing import Any


class LineageClient(abc.ABC):
    """Records which workflow and task produced which artifact."""

    @abc.abstractmethod
    def register_workflow(self, workflow_name: str) -> str: ...

    @abc.abstractmethod
    def register_artifact(self, namespace: str, name: str, uri: str, **kwargs: Any) -> str: ...

    @abc.abstractmethod
    def register_task(
        self, task_name: str, input_urns: dict, output_uris: dict, workflow_urn: str
    ) -> dict: ...

    @abc.abstractmethod
    def get_artifact_metadata(self, urn: str) -> object: ...

"""``Context``: like an executor, but applied to a whole workflow (``Workflow(context=...)``)."""

from __future__ import annotations

import abc
from typing import Any


class Context(abc.ABC):
    """Renders a workflow (and each of its script templates) before it runs."""

    @abc.abstractmethod
    def render(self, template_or_workflow: Any) -> Any:
        """Return the (possibly modified) workflow or template."""

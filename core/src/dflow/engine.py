"""The engine interface: what a workflow engine plugin implements.

``Workflow`` methods delegate here; the engine is chosen by configuration
(``dflow.toml`` ``engine = ...``, ``config["mode"]``, ``DFLOW_MODE``).
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .names import workflow_id_problem

if TYPE_CHECKING:
    from .argo_objects import ArgoStep, ArgoWorkflow
    from .model.workflow import Workflow


class EngineError(RuntimeError):
    """An engine could not do what was asked (the message says what and what to do)."""


class InvalidWorkflowId(EngineError, ValueError):
    """A workflow id that is not a name (it would become a path: ``..``, ``/``, ``.``)."""


#: the methods whose first argument is a workflow id
BY_ID = (
    "query",
    "query_status",
    "query_step",
    "query_global_outputs",
    "wait",
    "terminate",
    "stop",
    "suspend",
    "resume",
    "retry",
    "resubmit",
    "delete",
    "logs",
)


def _checking_id(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def checked(self: Engine, workflow_id: Any, *args: Any, **kwargs: Any) -> Any:
        problem = workflow_id_problem(workflow_id)
        if problem is not None:
            raise InvalidWorkflowId(f"{self.name} engine, {method.__name__}(): {problem}")
        return method(self, workflow_id, *args, **kwargs)

    checked._dflow_checks_id = True  # type: ignore[attr-defined]
    return checked


def _checking_submit(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def checked(self: Engine, workflow: Any, *args: Any, **kwargs: Any) -> Any:
        wf_id = getattr(workflow, "id", None)
        problem = None if wf_id is None else workflow_id_problem(wf_id)
        if problem is not None:
            raise InvalidWorkflowId(f"{self.name} engine, submit(): {problem}")
        return method(self, workflow, *args, **kwargs)

    checked._dflow_checks_id = True  # type: ignore[attr-defined]
    return checked


class Engine(abc.ABC):
    """A workflow engine. Every method takes the workflow id it acts on.

    Ids reach an engine checked: every :data:`BY_ID` method and ``submit`` (for a
    ``workflow.id`` given) a subclass defines is wrapped to refuse an id that is not a name
    (:func:`dflow.names.workflow_id_problem`) before the engine turns it into a path.
    """

    name: str = "engine"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # resolved through the MRO: a method a mixin provides is wrapped too, once
        for attr, wrap in [(a, _checking_id) for a in BY_ID] + [("submit", _checking_submit)]:
            method = getattr(cls, attr)
            if not getattr(method, "_dflow_checks_id", False):
                setattr(cls, attr, wrap(method))

    @abc.abstractmethod
    def submit(
        self,
        workflow: Workflow,
        *,
        reuse_step: Sequence[ArgoStep] | None = None,
        wait: bool | None = None,
    ) -> ArgoWorkflow:
        """Submit (and, for synchronous engines, run) ``workflow``; set ``workflow.id``."""

    @abc.abstractmethod
    def query(self, workflow_id: str) -> ArgoWorkflow:
        """The workflow with its status and nodes."""

    def query_status(self, workflow_id: str) -> str:
        return self.query(workflow_id).status.phase

    def query_step(self, workflow_id: str, **filters: Any) -> list[ArgoStep]:
        """Steps matching pydflow's filters (name, key, phase, id, type, parent_id, ...)."""
        return self.query(workflow_id).get_step(**filters)

    def query_global_outputs(self, workflow_id: str) -> Any:
        return self.query(workflow_id).status.get("outputs")

    def wait(self, workflow_id: str, interval: float = 1) -> str:
        import time

        while True:
            phase = self.query_status(workflow_id)
            if phase not in ("Pending", "Running", None):
                return phase
            time.sleep(interval)

    def location(self, workflow_id: str) -> str:
        """Where a user looks at the workflow: its directory, its page in a UI ("" if none)."""
        return ""

    def _unsupported(self, what: str) -> EngineError:
        return EngineError(f"engine '{self.name}' does not support {what}")

    def terminate(self, workflow_id: str) -> None:
        raise self._unsupported("terminate")

    def stop(self, workflow_id: str) -> None:
        raise self._unsupported("stop")

    def suspend(self, workflow_id: str) -> None:
        raise self._unsupported("suspend")

    def resume(self, workflow_id: str) -> None:
        raise self._unsupported("resume")

    def retry(self, workflow_id: str, step_ids: Sequence[str] | None = None) -> None:
        raise self._unsupported("retry")

    def resubmit(self, workflow_id: str) -> None:
        raise self._unsupported("resubmit")

    def delete(self, workflow_id: str) -> None:
        raise self._unsupported("delete")

    def logs(self, workflow_id: str, step_id: str | None = None) -> str:
        raise self._unsupported("logs")

    def query_workflows(self, labels: dict[str, str] | None = None) -> list[ArgoWorkflow]:
        raise self._unsupported("listing workflows")

    def query_archived_workflows(
        self, labels: dict[str, str] | None = None, id: str | None = None
    ) -> list[ArgoWorkflow]:
        raise self._unsupported("archived workflows")

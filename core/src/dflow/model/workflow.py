"""``Workflow``: the entry point, and the handle on a submitted run.

Everything that talks to a backend goes through the engine chosen by configuration
(:mod:`dflow.backends`); building a workflow does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..names import SUBDOMAIN_RE, check_workflow_id
from . import context
from .dag import DAG
from .op_template import OPTemplate
from .step import Step, Task
from .steps import Steps

if TYPE_CHECKING:
    from ..argo_objects import ArgoStep, ArgoWorkflow
    from ..engine import Engine
    from ..rendering import Renderer

WORKFLOW_NAME_RE = SUBDOMAIN_RE
_T = TypeVar("_T")


class Workflow:
    """A workflow (pydflow's signature, plus ``engine=`` to pick an engine by name and
    ``raise_on_failure=True`` to make submit()/wait() raise
    :class:`dflow.reporting.WorkflowFailed` when the run fails)."""

    def __init__(
        self,
        name: str = "workflow",
        steps: Steps | None = None,
        dag: DAG | None = None,
        namespace: str | None = None,
        id: str | None = None,
        uid: str | None = None,
        host: str | None = None,
        token: str | None = None,
        k8s_config_file: str | None = None,
        k8s_api_server: str | None = None,
        context: Any = None,
        annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        parallelism: int | None = None,
        pod_gc_strategy: str | None = None,
        image_pull_secrets: Any = None,
        artifact_repo_key: str | None = None,
        parameters: dict[str, Any] | None = None,
        on_exit: OPTemplate | None = None,
        engine: str | Engine | None = None,
        raise_on_failure: bool | None = None,
    ) -> None:
        if not isinstance(name, str) or not WORKFLOW_NAME_RE.match(name):
            raise ValueError(
                f"workflow name {name!r} is invalid: use a lower-case RFC 1123 name "
                "(lower-case letters, digits, '-' and '.', starting and ending with a letter or "
                "digit, e.g. 'my-workflow')"
            )
        if steps is not None and dag is not None:
            raise ValueError(f"workflow '{name}': give either steps or dag, not both")
        self.name = name
        self.entrypoint: Steps | DAG | None = steps if steps is not None else dag
        self.namespace = namespace
        self.id = id if id is None else check_workflow_id(id, f"Workflow('{name}', id=...)")
        self.uid = uid or id
        self.host = host
        self.token = token
        self.k8s_config_file = k8s_config_file
        self.k8s_api_server = k8s_api_server
        self.context = context
        self.annotations = dict(annotations or {})
        self.labels = dict(labels or {})
        self.parallelism = parallelism
        self.pod_gc_strategy = pod_gc_strategy
        self.image_pull_secrets = image_pull_secrets
        self.artifact_repo_key = artifact_repo_key
        self.parameters = dict(parameters or {})
        self.on_exit = on_exit
        self._engine = engine
        # None: config["raise_on_failure"] decides (pydflow never raises: submit() returns)
        self.raise_on_failure = raise_on_failure

    # -- building ------------------------------------------------------------------------

    @property
    def steps(self) -> Steps | None:
        return self.entrypoint if isinstance(self.entrypoint, Steps) else None

    @property
    def dag(self) -> DAG | None:
        return self.entrypoint if isinstance(self.entrypoint, DAG) else None

    def add(self, step: Step | Task | list[Step] | list[Task]) -> None:
        """Append a step (or parallel steps, or tasks) to the entrypoint."""
        first = step[0] if isinstance(step, list | tuple) and step else step
        if self.entrypoint is None:
            if isinstance(first, Task):
                self.entrypoint = DAG(f"{self.name}-dag")
            else:
                self.entrypoint = Steps(f"{self.name}-steps")
        # Steps.add refuses tasks and DAG.add steps, each with a clear error
        cast(Any, self.entrypoint).add(step)

    def __enter__(self) -> Workflow:
        context.push(self)
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        context.pop(self)
        if exc_type is None:
            self.submit()

    # -- checking and rendering ----------------------------------------------------------

    def validate(self) -> None:
        """Check the whole graph; raise :class:`dflow.validation.ValidationError` listing
        every problem with its path."""
        from ..validation import validate_workflow

        validate_workflow(self)

    def _renderer(self) -> Renderer:
        from ..backends import get_renderer

        return get_renderer("argo")

    def to_dict(self) -> dict:
        """The Argo manifest (needs the argo engine plugin; no network call)."""
        from ..config_keys import active_components, warn_ignored

        manifest = self._explained(lambda: self._renderer().render(self).manifest)
        # keys set that nothing reads (a manifest naturally leaves out the local engine's keys)
        warn_ignored(active_components("argo"), unread_only=True)
        return manifest

    def to_json(self, **kwargs: Any) -> str:
        import json

        return json.dumps(self.to_dict(), **kwargs)

    def to_yaml(self, **kwargs: Any) -> str:
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~3x faster
        return yaml.dump(self.to_dict(), Dumper=dumper, sort_keys=False, **kwargs)

    def lint(self) -> list[Any]:
        """Render to Argo and run Argo's validator checks (argo engine plugin); raise on
        problems, return the notes."""
        return self._explained(lambda: self._renderer().lint(self))

    def _explained(self, render: Callable[[], _T]) -> _T:
        """``render()``, with a value that cannot be rendered (a parameter containing itself
        exhausts the stack) reported as validation reports it, naming the step and parameter."""
        try:
            return render()
        except RecursionError:
            from ..validation import ValidationError, errors_of

            errors = errors_of(self)
            if errors:
                raise ValidationError(errors) from None
            raise

    @classmethod
    def from_dict(cls, manifest: dict) -> Workflow:
        from ..backends import get_renderer

        return get_renderer("argo").from_dict(manifest)

    @classmethod
    def from_json(cls, text: str) -> Workflow:
        import json

        return cls.from_dict(json.loads(text))

    @classmethod
    def from_yaml(cls, text: str) -> Workflow:
        import yaml

        return cls.from_dict(yaml.safe_load(text))

    # -- pictures and the report (dflow.graph) -------------------------------------------

    def to_mermaid(self, phases: bool | None = None) -> str:
        """A mermaid flowchart of the graph; coloured by phase once submitted (``phases``)."""
        from ..graph import draw

        return draw(self, "mermaid", phases)

    def to_dot(self, phases: bool | None = None) -> str:
        """Graphviz DOT text of the graph; coloured by phase once submitted (``phases``)."""
        from ..graph import draw

        return draw(self, "dot", phases)

    def to_svg(self, phases: bool | None = None) -> str:
        """An SVG picture of the graph (no Graphviz needed); coloured by phase once submitted."""
        from ..graph import draw

        return draw(self, "svg", phases)

    def report(self, path: str | None = None) -> str:
        """Write the self-contained HTML report of this (submitted) run; returns its path."""
        from ..graph.report import write_report

        return write_report(self, path)

    # -- running and querying ------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine this workflow runs on (resolved from configuration on first use)."""
        from ..engine import Engine

        if not isinstance(self._engine, Engine):
            from ..backends import get_engine

            self._engine = get_engine(self._engine)
        return self._engine

    def submit(
        self, reuse_step: Sequence[ArgoStep] | None = None, wait: bool | None = None
    ) -> ArgoWorkflow:
        """Validate, then submit (the local engine runs it synchronously unless ``wait=False``)."""
        if self.entrypoint is None:
            raise ValueError(f"workflow '{self.name}' has no steps: add some before submit()")
        engine = self.engine
        self.validate()
        from ..config_keys import active_components, warn_ignored

        warn_ignored(active_components(engine.name))  # keys set that this run would ignore
        with self._session(engine, None) as session:
            result = engine.submit(self, reuse_step=reuse_step, wait=wait)
        status = (result.get("status") if isinstance(result, dict) else None) or {}
        session.finish(self.id or result.id, status.get("phase"))
        return result

    def _session(self, engine: Engine, workflow_id: str | None) -> Any:
        from ..config import config
        from ..reporting import Session

        raise_on = self.raise_on_failure
        if raise_on is None:
            raise_on = bool(config.get("raise_on_failure"))
        return Session(engine, workflow_id, raise_on)

    def _require_id(self) -> str:
        if not self.id:
            raise ValueError(
                f"workflow '{self.name}' has no id: submit it first or pass Workflow(id=...)"
            )
        return self.id

    def wait(self, interval: float = 1) -> str:
        """Wait for the run to end (showing its progress); its phase."""
        workflow_id = self._require_id()
        with self._session(self.engine, workflow_id) as session:
            session.announced = True  # submit() said where it runs
            phase = self.engine.wait(workflow_id, interval)
        session.finish(workflow_id, phase)
        return phase

    def query(self, fields: Any = None, retry: int = 3) -> ArgoWorkflow:
        return self.engine.query(self._require_id())

    def query_status(self) -> str:
        return self.engine.query_status(self._require_id())

    def query_step(
        self,
        name: Any = None,
        key: Any = None,
        phase: Any = None,
        id: Any = None,
        type: Any = None,
        parent_id: Any = None,
        sort_by_generation: bool = False,
    ) -> list[ArgoStep]:
        return self.engine.query_step(
            self._require_id(),
            name=name,
            key=key,
            phase=phase,
            id=id,
            type=type,
            parent_id=parent_id,
            sort_by_generation=sort_by_generation,
        )

    def query_step_by_key(
        self,
        key: Any,
        name: Any = None,
        phase: Any = None,
        id: Any = None,
        type: Any = None,
    ) -> list[ArgoStep]:
        return self.query_step(name=name, key=key, phase=phase, id=id, type=type)

    def query_keys_of_steps(self) -> list[str]:
        return [s.key for s in self.query_step() if s.key is not None]

    def query_global_outputs(self) -> Any:
        return self.engine.query_global_outputs(self._require_id())

    def terminate(self) -> None:
        self.engine.terminate(self._require_id())

    def stop(self) -> None:
        self.engine.stop(self._require_id())

    def suspend(self) -> None:
        self.engine.suspend(self._require_id())

    def resume(self) -> None:
        self.engine.resume(self._require_id())

    def retry(self) -> None:
        self.engine.retry(self._require_id())

    def retry_steps(self, step_ids: list[str]) -> None:
        self.engine.retry(self._require_id(), step_ids)

    def resubmit(self) -> None:
        self.engine.resubmit(self._require_id())

    def delete(self) -> None:
        self.engine.delete(self._require_id())

    def logs(self, step_id: str | None = None) -> str:
        return self.engine.logs(self._require_id(), step_id)

    def __repr__(self) -> str:
        return f"<Workflow {self.id or self.name}>"

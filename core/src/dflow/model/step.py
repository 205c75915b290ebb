"""``Step`` (an instance of a template inside Steps), ``Task`` (inside a DAG) and ``HookStep``."""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable
from typing import Any

from .. import names
from . import context
from .helpers import ArgoSequence, argo_len, argo_range
from .io import ArgoVar, ArtifactRef, OutputArtifact, OutputParameter, _IOBase
from .op_template import OPTemplate, randstr

STEP_NAME_RE = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
#: a key once its ``{{...}}`` parts are filled in: lower case, digits, '-' (and '.'). pydflow
#: accepted a trailing '-' ("iter-"), so we do too; '.' is ours (keys are RFC 1123 subdomains).
KEY_RE = names.KEY_RE
_TAG_RE = re.compile(r"\{\{.*?\}\}")


def key_problem(key: Any) -> str | None:
    """Why ``key`` is not a valid step key, or None (``{{...}}`` parts stand for values)."""
    if key is None:
        return None
    if not isinstance(key, str) and not hasattr(key, "expr"):
        return f"key must be a string, got {type(key).__name__} {key!r:.60}"
    if KEY_RE.match(_TAG_RE.sub("0", str(key))):
        return None
    return (
        f"key {str(key)!r} is invalid: use lower-case letters, digits, '-' and '.', starting "
        "with a letter or digit ({{item}} and other {{...}} parts are allowed), "
        "e.g. 'iter-{{item}}'"
    )


def check_key(key: Any, where: str) -> None:
    """Raise ValueError naming ``where`` unless ``key`` is a valid step key."""
    problem = key_problem(key)
    if problem is not None:
        raise ValueError(f"{where}: {problem}")


def _is_composite(template: OPTemplate) -> bool:
    from .dag import DAG
    from .steps import Steps

    return isinstance(template, Steps | DAG)


def timeout_seconds(timeout: Any, where: str) -> float | None:
    """A step timeout in seconds: a number, or text such as ``"30"``, ``"30s"``, ``"5m"``."""
    if timeout is None:
        return None
    from .op_template import _timeout_seconds

    try:
        seconds = _timeout_seconds(timeout)
    except (TypeError, ValueError):
        seconds = None
    if isinstance(timeout, bool) or seconds is None or not seconds > 0:
        raise ValueError(
            f"{where}: timeout {timeout!r} is invalid: give a positive number of seconds "
            "(30, 2.5) or a duration text ('30s', '5m', '1h')"
        )
    return seconds


_TASK_REF_RE = re.compile(r"tasks(?:\.([a-zA-Z0-9][-a-zA-Z0-9]*)|\['([^']+)'\])")
_STEP_REF_RE = re.compile(r"steps(?:\.([a-zA-Z0-9][-a-zA-Z0-9]*)|\['([^']+)'\])")


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f" (has: {', '.join(known) or 'none'}){hint}"


class Step:
    """One use of a template, with its arguments and control options (pydflow's signature)."""

    is_task = False
    kind = "step"
    #: the part this step plays inside the Steps template an executor renders for one slice
    #: of a sliced step on Argo (``Executor.threads_slices``): ``"run"`` runs the OP on the
    #: slice (it gets the slice's ``dflow_slice_index``), ``"outputs"`` gives the slice's
    #: outputs (its stacked artifacts go to the fan-out's ``dflow_artifact_key``)
    slice_part: str | None = None

    def __init__(
        self,
        name: str,
        template: OPTemplate,
        parameters: dict[str, Any] | None = None,
        artifacts: dict[str, Any] | None = None,
        when: Any = None,
        with_param: Any = None,
        continue_on_failed: bool = False,
        continue_on_error: bool = False,
        continue_on_num_success: int | None = None,
        continue_on_success_ratio: float | None = None,
        with_sequence: ArgoSequence | None = None,
        key: str | None = None,
        executor: Any = None,
        use_resource: Any = None,
        util_image: str | None = None,
        util_image_pull_policy: str | None = None,
        util_command: list[str] | None = None,
        parallelism: int | None = None,
        slices: Any = None,
        success_hook: HookStep | None = None,
        running_hook: HookStep | None = None,
        failure_hook: HookStep | None = None,
        dependencies: list[Any] | None = None,
        timeout: float | str | None = None,
        cache: bool | None = None,
    ) -> None:
        if not isinstance(name, str) or not STEP_NAME_RE.match(name):
            raise ValueError(
                f"{self.kind} name {name!r} is invalid: use letters, digits and '-', "
                "starting with a letter or digit (e.g. 'my-step-1')"
            )
        if not isinstance(template, OPTemplate):
            raise TypeError(
                f"{self.kind} '{name}': template must be an OP template (ShellOPTemplate, "
                f"PythonOPTemplate, Steps, DAG...), got {type(template).__name__}"
            )
        check_key(key, f"{self.kind} '{name}'")
        seconds = timeout_seconds(timeout, f"{self.kind} '{name}'")
        if seconds is not None and _is_composite(template):
            # Argo accepts ``timeout`` on leaf templates only (workflow/validate/validate.go,
            # v3.7.18 and v4.1.2: "... template doesn't support timeout field")
            raise ValueError(
                f"{self.kind} '{name}': timeout applies to script and Python OP steps, but "
                f"template '{template.name}' is a {type(template).__name__}; set timeouts on "
                "the steps inside it"
            )
        if cache is not None and not isinstance(cache, bool):
            raise TypeError(f"{self.kind} '{name}': cache must be True, False or None")
        self.name = name
        self.id = name
        self.timeout = timeout
        self.cache = cache  # None: the template's, else the configuration's (docs/cache.md)
        if slices is not None:
            template = copy.deepcopy(template)
            template.slices = slices
        self.template = template
        self.inputs = copy.deepcopy(template.inputs)
        self.inputs.set_owner(template=template, step=self)
        self.outputs = copy.deepcopy(template.outputs)
        self.outputs.set_owner(template=template, step=self)
        self.when = when
        self.with_param = with_param
        self.with_sequence = with_sequence
        self.continue_on_failed = continue_on_failed or bool(
            continue_on_num_success is not None or continue_on_success_ratio is not None
        )
        self.continue_on_error = continue_on_error
        self.continue_on_num_success = continue_on_num_success
        self.continue_on_success_ratio = continue_on_success_ratio
        self.key = key
        self.executor = _checked_executor(name, executor)
        self.use_resource = use_resource
        self.util_image = util_image
        self.util_image_pull_policy = util_image_pull_policy
        self.util_command = util_command
        self.parallelism = parallelism
        self.success_hook = success_hook
        self.running_hook = running_hook
        self.failure_hook = failure_hook
        self.dependencies = list(dependencies) if dependencies is not None else None
        self.set_parameters(parameters or {})
        self.set_artifacts(artifacts or {})
        self._infer_slice_loop()
        if executor is not None and hasattr(executor, "modify_step"):
            executor.modify_step(self)
        context.auto_add(self)

    # -- arguments -----------------------------------------------------------------------

    @property
    def timeout_seconds(self) -> float | None:
        """Seconds this step may run: its own ``timeout``, else its template's (None: no limit)."""
        if self.timeout is not None:
            return timeout_seconds(self.timeout, f"{self.kind} '{self.name}'")
        return getattr(self.template, "timeout_seconds", None)

    @property
    def slices(self) -> Any:
        return getattr(self.template, "slices", None)

    def set_parameters(self, parameters: dict[str, Any]) -> None:
        """Set input parameter values (literals, references, expressions)."""
        for name, value in parameters.items():
            if name not in self.inputs.parameters:
                raise KeyError(
                    f"{self.kind} '{self.name}': template '{self.template.name}' has no input "
                    f"parameter '{name}'" + _did_you_mean(name, self.inputs.parameters)
                )
            self.inputs.parameters[name].value = value

    def set_artifacts(self, artifacts: dict[str, Any]) -> None:
        """Set input artifact sources (uploaded artifacts, references, lists/dicts of them)."""
        for name, source in artifacts.items():
            if name not in self.inputs.artifacts:
                raise KeyError(
                    f"{self.kind} '{self.name}': template '{self.template.name}' has no input "
                    f"artifact '{name}'" + _did_you_mean(name, self.inputs.artifacts)
                )
            self.inputs.artifacts[name].source = source

    def _infer_slice_loop(self) -> None:
        """With Slices and no loop given, iterate over the first sliced input's items."""
        slices = self.slices
        if slices is None or self.with_param is not None or self.with_sequence is not None:
            return
        if getattr(slices, "sub_path", False):
            return  # the engine enumerates the artifact's catalog
        for name in getattr(slices, "input_parameter", []):
            param = self.inputs.parameters.get(name)
            if param is None or not param.has_value:
                continue
            value = param.value
            if isinstance(value, list | tuple):
                self.with_param = argo_range(len(value))
            elif isinstance(value, _IOBase):
                self.with_param = argo_range(argo_len(value))
            if self.with_param is not None:
                return
        for name in getattr(slices, "input_artifact", []):
            art = self.inputs.artifacts.get(name)
            src = getattr(art, "source", None)
            if isinstance(src, list | tuple):
                self.with_param = argo_range(len(src))
                return

    # -- references ----------------------------------------------------------------------

    @property
    def expr(self) -> str:
        return f"{'tasks' if self.is_task else 'steps'}['{self.name}']"

    def referenced_nodes(self) -> set[str]:
        """Names of sibling steps/tasks this node reads from (arguments, when, loops, key)."""
        pattern = _TASK_REF_RE if self.is_task else _STEP_REF_RE
        found: set[str] = set()

        def visit(value: Any) -> None:
            if isinstance(value, ArtifactRef):
                value = value.artifact
            if isinstance(value, OutputParameter | OutputArtifact) and value.step is not None:
                if value.step.is_task == self.is_task:
                    found.add(value.step.name)
                return
            if isinstance(value, ArgoVar):
                text = value.expr
                for sub in vars(value).values():
                    if isinstance(sub, ArgoVar | list | tuple | dict):
                        visit(sub)
            elif isinstance(value, str):
                text = value
            elif isinstance(value, dict):
                for v in value.values():
                    visit(v)
                return
            elif isinstance(value, list | tuple):
                for v in value:
                    visit(v)
                return
            elif isinstance(value, ArgoSequence):
                for v in (value.count, value.start, value.end):
                    visit(v)
                return
            else:
                return
            for m in pattern.finditer(text):
                found.add(m.group(1) or m.group(2))

        for p in self.inputs.parameters.values():
            if p.has_value:
                visit(p.value)
        for a in self.inputs.artifacts.values():
            visit(a.source)
        for v in (self.when, self.with_param, self.with_sequence, self.key):
            visit(v)
        found.discard(self.name)
        return found

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} template={self.template.name}>"


class Task(Step):
    """A node of a DAG; ``dependencies`` (tasks or names) add to the inferred ones."""

    is_task = True
    kind = "task"

    def dependency_names(self) -> set[str]:
        """Explicit dependencies plus those inferred from references to other tasks."""
        names = self.referenced_nodes()
        for dep in self.dependencies or []:
            names.add(dep.name if isinstance(dep, Step) else str(dep).split(".")[0])
        return names


class HookStep(Step):
    """A step run by a lifecycle hook (``success_hook``/``running_hook``/``failure_hook``)."""

    def __init__(self, template: OPTemplate, expression: str | None = None, **kwargs: Any):
        self.expression = expression
        name = kwargs.pop("name", None) or f"hook-{randstr()}"
        # hooks are attached to a step, never auto-added to the open container
        context.push(None)
        try:
            super().__init__(name, template, **kwargs)
        finally:
            context.pop(None)


def _checked_executor(step: str, executor: Any) -> Any:
    """``executor`` if it is a :class:`dflow.executor.Executor` (or None).

    One rule for every engine: the Argo renderer would otherwise call ``render`` on whatever
    was given while the local engine ran the step itself, silently."""
    from dflow.executor import Executor

    if executor is None or isinstance(executor, Executor):
        return executor
    raise TypeError(
        f"Step '{step}': executor must be a dflow Executor (DispatcherExecutor, "
        f"SlurmJobTemplate, ContainerExecutor, or a subclass of dflow.executor.Executor), "
        f"got {type(executor).__name__} {executor!r}"
    )

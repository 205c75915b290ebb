"""The checks behind :func:`dflow.validation.validate_workflow`."""

from __future__ import annotations

import re
from typing import Any

import attrs

from ..model.dag import DAG
from ..model.helpers import ArgoRange
from ..model.io import (
    MISSING,
    PVC,
    ArgoVar,
    ArtifactRef,
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    step_input_names,
    step_input_optional,
    step_input_value,
)
from ..model.op_template import OPTemplate, ScriptOPTemplate
from ..model.step import Step, key_problem
from ..model.steps import Steps
from ..model.workflow import Workflow
from .saves import SaveChecks
from .types import ERROR, OK, Stacked, label, produced_type, verdict

TEMPLATE_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VAR_RE = re.compile(r"\{\{\s*([^{}=][^{}]*?)\s*\}\}")
_NODE_OUT_RE = re.compile(
    r"^(steps|tasks)\.([a-zA-Z0-9][-a-zA-Z0-9]*)\.outputs\.(parameters|artifacts)\.([-\w]+)$"
)
_INPUT_RE = re.compile(r"^inputs\.(parameters|artifacts)\.([-\w]+)$")


@attrs.frozen
class Problem:
    """One finding: an ``error`` (the workflow cannot run as written) or a ``warning`` (it
    depends on values only known at run time)."""

    path: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _holds_template(value: Any) -> bool:
    """Whether a value is, or holds in its lists and dicts, a ``{{...}}`` reference or an
    output (engines fill them in when the step runs)."""
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, (list, tuple)):
        return any(_holds_template(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_template(k) or _holds_template(v) for k, v in value.items())
    return isinstance(value, ArgoVar)


def _literal_type_error(value: Any, expected: Any) -> str | None:
    if expected is None or _holds_template(value):
        return None  # "{{item}}", [1, "{{inputs.parameters.n}}"]: known at run time
    if isinstance(value, str) and expected is not str:
        # a parameter travels as text: "3" is a fine int, as on Argo
        from ..serialization import load_value

        decoded = load_value(value, expected)
        if decoded is not value and _literal_type_error(decoded, expected) is None:
            return None
    from ..python.typecheck import value_ok  # the rule the step applies when it runs

    try:
        ok = value_ok(value, expected)
    except Exception:  # an annotation no checker can evaluate here
        return None
    if not ok:
        return f"expects {label(expected)}, got {type(value).__name__} ({value!r:.60})"
    return None


class _Checker:
    def __init__(self, workflow: Workflow) -> None:
        self.wf = workflow
        self.problems: list[Problem] = []
        self.seen: set[int] = set()
        self.saves = SaveChecks(self.add)

    def add(self, path: str, message: str, severity: str = "error") -> None:
        self.problems.append(Problem(path, message, severity))

    # -- templates -----------------------------------------------------------------------

    def template(self, tmpl: OPTemplate, path: str) -> None:
        if id(tmpl) in self.seen:
            return
        self.seen.add(id(tmpl))
        if not TEMPLATE_NAME_RE.match(tmpl.name):
            self.add(path, f"template name '{tmpl.name}' is not a lower-case RFC 1123 name")
        # two different templates may share a name: engines tell them apart (the Argo
        # renderer gives the second one a "-2" suffix)
        if isinstance(tmpl, Steps):
            self.steps(tmpl, path)
        elif isinstance(tmpl, DAG):
            self.dag(tmpl, path)
        self.template_outputs(tmpl, path)

    def steps(self, tmpl: Steps, path: str) -> None:
        earlier: dict[str, Step] = {}
        for gi, group in enumerate(tmpl.steps):
            names_in_group = {s.name for s in group}
            for step in group:
                spath = f"{path}[{gi}]/{step.name}"
                if step.name in earlier:
                    self.add(spath, f"step name '{step.name}' is used twice in '{tmpl.name}'")
                if self.circular(step, spath):
                    continue
                for ref in sorted(step.referenced_nodes()):
                    if ref in earlier:
                        continue
                    if ref in names_in_group:
                        self.add(
                            spath,
                            f"refers to step '{ref}' of the same parallel group: "
                            "it may not have finished; move it to a later group",
                        )
                    elif any(ref == s.name for g in tmpl.steps[gi + 1 :] for s in g):
                        self.add(
                            spath,
                            f"refers to step '{ref}', which runs later: "
                            "a step may only use steps of earlier groups",
                        )
                    else:
                        self.add(
                            spath, f"refers to step '{ref}', which is not in steps '{tmpl.name}'"
                        )
                self.step(step, spath, tmpl, earlier)
            for step in group:
                earlier[step.name] = step

    def dag(self, tmpl: DAG, path: str) -> None:
        by_name: dict[str, Step] = {}
        for t in tmpl.tasks:
            if t.name in by_name:
                self.add(f"{path}/{t.name}", f"task name '{t.name}' is used twice in '{tmpl.name}'")
            by_name[t.name] = t
        tasks = [t for t in tmpl.tasks if not self.circular(t, f"{path}/{t.name}")]
        graph: dict[str, set[str]] = {}
        for t in tasks:
            deps = t.dependency_names()
            for d in sorted(deps - by_name.keys()):
                self.add(
                    f"{path}/{t.name}", f"depends on task '{d}', which is not in DAG '{tmpl.name}'"
                )
            graph[t.name] = deps & by_name.keys()
        cycle = _find_cycle(graph)
        if cycle:
            self.add(path, "dependency cycle: " + " -> ".join(cycle))
        for t in tasks:
            scope = {n: by_name[n] for n in _closure(graph, t.name)}
            self.step(t, f"{path}/{t.name}", tmpl, scope)

    # -- steps ---------------------------------------------------------------------------

    def circular(self, step: Step, path: str) -> bool:
        """Report each input parameter whose value contains itself; True if any does (the
        step's other checks, which walk values, are skipped)."""
        found = False
        for name, param in step.inputs.parameters.items():
            where = circular_path(getattr(param, "value", None), name) if param.has_value else None
            if where is not None:
                found = True
                self.add(
                    path,
                    f"input parameter '{name}' is circular: {where} is the value itself (or "
                    "contains it); a parameter must be a tree of dicts/lists, pass a copy "
                    "without the back-reference",
                )
        return found

    def step(self, step: Step, path: str, parent: OPTemplate, scope: dict[str, Step]) -> None:
        tmpl = step.template
        problem = key_problem(step.key)  # the Step checks it too; it may have been set since
        if problem is not None:
            self.add(path, problem)
        slices = getattr(tmpl, "slices", None)
        sliced = set(getattr(slices, "input_parameter", []) or [])
        looped = step.with_param is not None or step.with_sequence is not None
        for name in step_input_names(step, "parameters"):
            value = step_input_value(step, name)
            if value is MISSING:
                self.add(
                    path,
                    f"input parameter '{name}' of template '{tmpl.name}' has no value "
                    "and no default: pass parameters={" + repr(name) + ": ...}",
                )
                continue
            self.value_refs(value, path, parent, scope)
            expected = (step.inputs.parameters.get(name) or tmpl.inputs.parameters[name]).type
            if name in sliced and isinstance(value, list | tuple):
                for i, item in enumerate(value):  # a list of the expected type, item by item
                    err = _literal_type_error(item, expected)
                    if err:
                        self.add(path, f"input '{name}' item {i} {err}")
                        break
                continue
            if isinstance(value, OutputParameter) and value.step is not None:
                # a sliced input takes the list of its items
                self.reference_type(
                    step, name, value, Stacked(expected) if name in sliced else expected, path
                )
            elif not isinstance(value, InputParameter | OutputParameter) and not looped:
                err = _literal_type_error(value, expected)
                if err:
                    self.add(path, f"input '{name}' {err}")
        for name in step_input_names(step, "artifacts"):
            src = getattr(step.inputs.artifacts.get(name), "source", None)
            if src is None:
                if not step_input_optional(step, name):
                    self.add(
                        path,
                        f"input artifact '{name}' of template '{tmpl.name}' is required:"
                        " pass artifacts={" + repr(name) + ": ...} or mark it optional",
                    )
                continue
            if not _is_artifact_source(src):
                self.add(
                    path,
                    f"input artifact '{name}' got {type(src).__name__} ({src!r:.40}): "
                    "expected an uploaded artifact, an artifact of another step, "
                    "or a list/dict of them",
                )
            self.value_refs(src, path, parent, scope)
        for v in (step.when, step.with_param, step.key):
            self.value_refs(v, path, parent, scope)
        self.slice_lengths(step, path)
        self.saves.step(step, path)
        for hook in (step.success_hook, step.running_hook, step.failure_hook):
            if hook is not None:
                self.template(hook.template, f"{path}/{hook.name}")
        self.template(
            tmpl, f"{path}/{tmpl.name}" if not isinstance(tmpl, ScriptOPTemplate) else path
        )

    def reference_type(
        self, step: Step, name: str, ref: OutputParameter, expected: Any, path: str
    ) -> None:
        produced = produced_type(ref)
        found = verdict(produced, expected)
        if found == OK:
            return
        producer = ref.step
        what = (
            f"input '{name}' expects {label(expected)}, got output '{ref.name}' "
            f"({label(produced)}) of {producer.kind} '{producer.name}'"
        )
        if found == ERROR:
            self.add(path, what)
        else:
            self.add(
                path,
                f"{what}: this works only if the text is JSON of type {label(expected)}",
                "warning",
            )

    def value_refs(self, value: Any, path: str, parent: OPTemplate, scope: dict[str, Step]) -> None:
        """References in a value: objects and ``{{...}}`` strings must resolve in scope."""
        if isinstance(value, ArtifactRef):
            value = value.artifact
        if isinstance(value, InputParameter | InputArtifact) and value.step is None:
            tmpl = value.template
            if tmpl is not None and tmpl is not parent:
                self.add(
                    path,
                    f"uses input '{value.name}' of template '{tmpl.name}', which is not "
                    f"the enclosing template '{parent.name}'",
                )
            return
        if isinstance(value, OutputParameter | OutputArtifact) and value.step is not None:
            return  # scope of step objects is checked through referenced_nodes
        if isinstance(value, dict):
            for v in value.values():
                self.value_refs(v, path, parent, scope)
            return
        if isinstance(value, list | tuple):
            for v in value:
                self.value_refs(v, path, parent, scope)
            return
        if not isinstance(value, str):
            return
        for var in _VAR_RE.findall(value):
            m = _NODE_OUT_RE.match(var)
            if m:
                node = scope.get(m.group(2))
                if node is None:
                    continue  # reported by the steps/dag scope check
                outs = getattr(node.outputs, m.group(3))
                if m.group(4) not in outs:
                    self.add(
                        path,
                        f"'{{{{{var}}}}}': {node.kind} '{node.name}' has no output "
                        f"{m.group(3)[:-1]} '{m.group(4)}'",
                    )
                continue
            m = _INPUT_RE.match(var)
            if m and m.group(2) not in getattr(parent.inputs, m.group(1)):
                self.add(
                    path,
                    f"'{{{{{var}}}}}': template '{parent.name}' has no input "
                    f"{m.group(1)[:-1]} '{m.group(2)}'",
                )

    def slice_lengths(self, step: Step, path: str) -> None:
        slices = getattr(step.template, "slices", None)
        if slices is None:
            return
        lengths = {}
        for name in slices.input_parameter:
            p = step.inputs.parameters.get(name)
            if p is None:
                self.add(path, f"Slices names input parameter '{name}', which the OP does not have")
            elif isinstance(p.value, list | tuple):
                lengths[name] = len(p.value)
        for name in slices.input_artifact:
            a = step.inputs.artifacts.get(name)
            if a is None:
                self.add(path, f"Slices names input artifact '{name}', which the OP does not have")
            elif isinstance(getattr(a, "source", None), list | tuple):
                lengths[name] = len(a.source)
        for name in slices.output_parameter:
            if name not in step.outputs.parameters:
                self.add(
                    path, f"Slices names output parameter '{name}', which the OP does not have"
                )
        for name in slices.output_artifact:
            if name not in step.outputs.artifacts:
                self.add(path, f"Slices names output artifact '{name}', which the OP does not have")
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"'{k}' has {v}" for k, v in lengths.items())
            self.add(path, f"sliced inputs differ in length: {listed}")
        elif isinstance(step.with_param, ArgoRange) and lengths and step.slices.group_size is None:
            items = step.with_param.static_items()
            if items is not None and items and max(items) >= min(lengths.values()):
                self.add(
                    path,
                    f"with_param has {len(items)} items but sliced inputs have "
                    f"{min(lengths.values())}",
                )

    def template_outputs(self, tmpl: OPTemplate, path: str) -> None:
        if not isinstance(tmpl, Steps | DAG):
            return
        names = {s.name for s in tmpl.iter_steps()}
        for name, out in tmpl.outputs.parameters.items():
            src = out.value_from_parameter
            if (
                isinstance(src, OutputParameter)
                and src.step is not None
                and src.step.name not in names
            ):
                self.add(
                    path,
                    f"output parameter '{name}' comes from {src.step.kind} "
                    f"'{src.step.name}', which is not in '{tmpl.name}'",
                )
            if (
                src is None
                and out.value_from_expression is None
                and out.value is MISSING
                and out.default is MISSING
            ):
                self.add(
                    path,
                    f"output parameter '{name}' has no source: set value_from_parameter"
                    " or value_from_expression",
                )
        for name, out in tmpl.outputs.artifacts.items():
            src = out._from
            if isinstance(src, ArtifactRef):
                src = src.artifact
            if (
                isinstance(src, OutputArtifact)
                and src.step is not None
                and src.step.name not in names
            ):
                self.add(
                    path,
                    f"output artifact '{name}' comes from {src.step.kind} "
                    f"'{src.step.name}', which is not in '{tmpl.name}'",
                )


def circular_path(value: Any, name: str) -> str | None:
    """Where ``value`` (a parameter named ``name``) contains a dict/list/tuple that is one of
    its own ancestors, as ``name['a'][0]``; None when it is a tree. Iterative: a deep value
    cannot exhaust the stack."""
    todo: list[tuple[Any, str, tuple[int, ...]]] = [(value, name, ())]
    while todo:
        item, where, ancestors = todo.pop()
        if not isinstance(item, dict | list | tuple):
            continue
        if id(item) in ancestors:
            return where
        inside = (*ancestors, id(item))
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        todo.extend((v, f"{where}[{k!r}]", inside) for k, v in pairs)
    return None


def _is_artifact_source(src: Any) -> bool:
    if isinstance(src, InputArtifact | OutputArtifact | ArtifactRef | PVC | str):
        return True
    if isinstance(src, list | tuple):  # a None part is left out (as a None argument is)
        return all(s is None or _is_artifact_source(s) for s in src)
    if isinstance(src, dict):
        return all(s is None or _is_artifact_source(s) for s in src.values())
    return any(hasattr(src, a) for a in ("key", "local_path", "url", "get_urn"))


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(graph.get(n, ()))
    return seen


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                return stack[stack.index(d) :] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def check_workflow(wf: Workflow) -> list[Problem]:
    checker = _Checker(wf)
    if wf.entrypoint is None:
        checker.add(wf.name, "workflow has no steps")
    else:
        checker.template(wf.entrypoint, f"{wf.name}/{wf.entrypoint.name}")
    if wf.on_exit is not None:
        checker.template(wf.on_exit, f"{wf.name}/on-exit/{wf.on_exit.name}")
    checker.saves.finish()
    return checker.problems

"""Lint Argo Workflow manifests with the checks Argo's validator makes, before submitting.

``lint(manifest)`` returns every problem as a :class:`LintIssue` (path and message);
``check(manifest)`` raises :class:`LintError` listing them. The checks follow Argo's
``workflow/validate``: names valid and unique, exactly one type per template, template
references that resolve, required inputs supplied, placement rules (``timeout`` and
``activeDeadlineSeconds`` only on leaf templates, ``parallelism`` only on steps/DAG), DAG
dependencies that exist and have no cycle, and every ``{{variable}}`` resolvable where it is
used. Where Argo is lax this is stricter: a step may only read steps of earlier groups, a
task only its (transitive) dependencies, ``{{item}}`` only inside a loop, and ``{{=expr}}``
expressions are checked too. ``templateRef`` targets live in other resources: they are
reported as notes, not checked.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable
from typing import Any

import attrs

from .lint_graph import check_dag, check_steps
from .lint_templates import (
    IS_VARIABLE,
    LEAF_TYPES,
    PARAM_NAME,
    check_leaf,
    check_outputs,
    check_placement,
)
from .lint_vars import Scope, iter_strings, unresolved

WORKFLOW_KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
TEMPLATE_TYPES = (
    "container",
    "containerSet",
    "steps",
    "script",
    "resource",
    "dag",
    "suspend",
    "data",
    "http",
    "plugin",
)
POD_TYPES = ("container", "containerSet", "script", "resource", "data")
ARTIFACT_LOCATIONS = (
    "s3",
    "git",
    "http",
    "artifactory",
    "hdfs",
    "raw",
    "oss",
    "gcs",
    "azure",
    "plugin",
)
POD_GC = ("", "OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess")
#: the largest request etcd takes by default (its ``--max-request-bytes``, 1.5 MiB: etcd's
#: server/embed/config.go DefaultMaxRequestBytes); the API server relays etcd's refusal as
#: "etcdserver: request is too large" (Argo v3.7.18 util/kube/errors/errors.go,
#: docs/offloading-large-workflows.md). Argo's controller already compresses or offloads the
#: node status of a workflow over 1 MiB (v3.7.18 workflow/packer/packer.go,
#: MAX_WORKFLOW_SIZE): the spec alone near the limit leaves no room for the status.
MAX_REQUEST_BYTES = 3 * 512 * 1024
FIELD_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
METRIC_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@attrs.frozen
class LintIssue:
    """One problem: where (``spec.templates[2].steps[0][1].template``) and what."""

    path: str
    message: str
    #: "note": something not checked; "warning": likely refused by the cluster, not by
    #: Argo's validator (check() warns); neither fails check()
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class LintWarning(UserWarning):
    """A manifest Argo's validator accepts but the cluster may not (the message says why)."""


class LintError(ValueError):
    """A manifest Argo would reject; ``.issues`` holds every problem found."""

    def __init__(self, issues: Iterable[LintIssue], name: str = "workflow") -> None:
        self.issues = list(issues)
        lines = "\n".join(f"  {i}" for i in self.issues)
        super().__init__(f"{name}: the Argo manifest has {len(self.issues)} problem(s):\n{lines}")


def lint(manifest: dict[str, Any]) -> list[LintIssue]:
    """Every problem Argo's validator (and the stricter checks above) finds in ``manifest``."""
    return Linter(manifest).run()


def check(manifest: dict[str, Any]) -> list[LintIssue]:
    """Raise :class:`LintError` on any error; warn (:class:`LintWarning`) about warnings;
    return the notes and warnings."""
    issues = lint(manifest)
    errors = [i for i in issues if i.severity == "error"]
    meta = manifest.get("metadata") or {} if isinstance(manifest, dict) else {}
    name = meta.get("name") or meta.get("generateName") or "workflow"
    if errors:
        raise LintError(errors, name)
    for issue in issues:
        if issue.severity == "warning":
            warnings.warn(f"{name}: {issue}", LintWarning, stacklevel=2)
    return issues


def template_type(tmpl: dict[str, Any]) -> str | None:
    types = [t for t in TEMPLATE_TYPES if tmpl.get(t) is not None]
    return types[0] if len(types) == 1 else None


def has_location(art: dict[str, Any]) -> bool:
    return any(art.get(k) is not None for k in ARTIFACT_LOCATIONS) or bool(
        art.get("artifactLocation")
    )


class Linter:
    """One run over one manifest; checks append to ``issues``."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.manifest = manifest
        self.issues: list[LintIssue] = []
        self.kind = manifest.get("kind", "Workflow") if isinstance(manifest, dict) else None
        self.base = "spec.workflowSpec" if self.kind == "CronWorkflow" else "spec"
        self.templates: dict[str, tuple[str, dict[str, Any]]] = {}
        self.checked: set[str] = set()
        self.exit_templates: set[str] = set()
        self.globals = Scope()

    # -- reporting ---------------------------------------------------------------------------
    def error(self, path: str, message: str) -> None:
        self.issues.append(LintIssue(path, message))

    def note(self, path: str, message: str) -> None:
        self.issues.append(LintIssue(path, message, "note"))

    def scan(self, value: Any, path: str, scope: Scope) -> None:
        """Report the variables of ``value`` that ``scope`` does not resolve."""
        for where, text in iter_strings(value, path):
            for message in dict.fromkeys(unresolved(text, scope)):
                self.error(where, message)

    # -- workflow level ----------------------------------------------------------------------
    def check_size(self) -> None:
        """Warn when the manifest is larger than Kubernetes takes in one request."""
        size = len(json.dumps(self.manifest, separators=(",", ":"), default=str).encode())
        if size > MAX_REQUEST_BYTES:
            self.issues.append(
                LintIssue(
                    "(whole manifest)",
                    f"the manifest is {size / 2**20:.2f} MiB as JSON, over the "
                    f"{MAX_REQUEST_BYTES / 2**20:.1f} MiB etcd takes in one request: Kubernetes "
                    "will likely refuse it ('etcdserver: request is too large'). Pass large "
                    "values as artifacts, not parameters, and loop over one template "
                    "(with_param) instead of repeating steps",
                    "warning",
                )
            )

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.manifest.get("spec") or {}
        return spec.get("workflowSpec") or {} if self.kind == "CronWorkflow" else spec

    def run(self) -> list[LintIssue]:
        if not isinstance(self.manifest, dict) or self.kind not in WORKFLOW_KINDS:
            self.error(
                "kind", f"'{self.kind}' is not a workflow kind ({', '.join(WORKFLOW_KINDS)})"
            )
            return self.issues
        if not isinstance(self.spec, dict) or not self.spec:
            self.error(self.base, "is required")
            return self.issues
        spec, base = self.spec, self.base
        self.check_size()
        name = (self.manifest.get("metadata") or {}).get("name") or ""
        limit = 52 if self.kind == "CronWorkflow" else 63
        if len(name) > limit:
            self.error("metadata.name", f"'{name}' is longer than {limit} characters")
        self.check_arguments(spec.get("arguments") or {}, f"{base}.arguments", workflow_level=True)
        if spec.get("workflowTemplateRef"):
            if spec.get("templates"):
                self.error(f"{base}.templates", "must be empty when workflowTemplateRef is set")
            ref = spec["workflowTemplateRef"].get("name")
            self.note(f"{base}.workflowTemplateRef", f"templates of '{ref}' are not checked here")
            return self.issues
        self.index_templates()
        self.build_globals()
        is_template_kind = self.kind in ("WorkflowTemplate", "ClusterWorkflowTemplate")
        entry = spec.get("entrypoint")
        if not entry and not is_template_kind:
            self.error(f"{base}.entrypoint", "is required")
        elif entry:
            self.check_reference(entry, f"{base}.entrypoint")
            if entry in self.templates and not is_template_kind:
                args = spec.get("arguments") or {}
                self.check_inputs_supplied(self.templates[entry][1], args, f"{base}.arguments")
        if spec.get("onExit"):
            self.check_reference(spec["onExit"], f"{base}.onExit")
        self.check_hooks(spec.get("hooks"), f"{base}.hooks", Scope(set(self.globals.names)))
        strategy = (spec.get("podGC") or {}).get("strategy", "")
        if strategy not in POD_GC:
            self.error(
                f"{base}.podGC.strategy",
                f"unknown strategy '{strategy}' (one of: {', '.join(POD_GC[1:])})",
            )
        for tname, (path, tmpl) in self.templates.items():
            self.check_template(tmpl, path, tname in self.exit_templates)
        return self.issues

    def index_templates(self) -> None:
        seen: dict[str, int] = {}
        for i, tmpl in enumerate(self.spec.get("templates") or []):
            path = f"{self.base}.templates[{i}]"
            name = tmpl.get("name") if isinstance(tmpl, dict) else None
            if not name:
                self.error(f"{path}.name", "is required")
                continue
            self.check_field_name(name, f"{path}.name", "template")
            if name in seen:
                self.error(
                    f"{path}.name",
                    f"template name '{name}' is not unique (also templates[{seen[name]}])",
                )
                continue
            seen[name] = i
            self.templates[name] = (path, tmpl)
        self.exit_templates = self.reachable(self.exit_roots())

    def exit_roots(self) -> list[str]:
        spec, roots = self.spec, []
        if spec.get("onExit"):
            roots.append(spec["onExit"])
        holders = [spec]
        for _, tmpl in self.templates.values():
            holders += [
                s for g in tmpl.get("steps") or [] for s in (g if isinstance(g, list) else [])
            ]
            holders += (tmpl.get("dag") or {}).get("tasks") or []
        for h in holders:
            if not isinstance(h, dict):
                continue
            if h.get("onExit"):
                roots.append(h["onExit"])
            roots += [
                hook.get("template")
                for hook in (h.get("hooks") or {}).values()
                if hook.get("template")
            ]
        return roots

    def reachable(self, roots: list[str]) -> set[str]:
        out, todo = set(), list(roots)
        while todo:
            name = todo.pop()
            if name in out or name not in self.templates:
                continue
            out.add(name)
            tmpl = self.templates[name][1]
            calls = [s for g in tmpl.get("steps") or [] for s in (g if isinstance(g, list) else [])]
            calls += (tmpl.get("dag") or {}).get("tasks") or []
            todo += [c["template"] for c in calls if isinstance(c, dict) and c.get("template")]
        return out

    def build_globals(self) -> None:
        spec, meta = self.spec, self.manifest.get("metadata") or {}
        names = {
            "workflow.name", "workflow.namespace", "workflow.mainEntrypoint", "workflow.uid",
            "workflow.serviceAccountName", "workflow.status", "workflow.annotations",
            "workflow.annotations.json", "workflow.labels", "workflow.labels.json",
        }  # fmt: skip
        params = (spec.get("arguments") or {}).get("parameters") or []
        if params:
            names |= {"workflow.parameters", "workflow.parameters.json"}
        names |= {f"workflow.parameters.{p.get('name')}" for p in params}
        wmeta = spec.get("workflowMetadata") or {}
        for k in list(meta.get("annotations") or {}) + list(wmeta.get("annotations") or {}):
            names.add(f"workflow.annotations.{k}")
        labels = list(meta.get("labels") or {}) + list(wmeta.get("labels") or {})
        for k in labels + list(wmeta.get("labelsFrom") or {}):
            names.add(f"workflow.labels.{k}")
        if spec.get("priority") is not None:
            names.add("workflow.priority")
        any_global = False
        for _, tmpl in self.templates.values():
            outputs = tmpl.get("outputs") or {}
            for kind in ("parameters", "artifacts"):
                for out in outputs.get(kind) or []:
                    g = out.get("globalName")
                    if g and IS_VARIABLE.search(g):  # validate.go isParameter: MatchString
                        any_global = True
                    elif g:
                        names.add(f"workflow.outputs.{kind}.{g}")
        self.globals = Scope(
            names,
            any_global_outputs=any_global,
            allow_workflow_parameters=self.kind in ("WorkflowTemplate", "ClusterWorkflowTemplate"),
        )

    def check_reference(self, name: str, path: str) -> None:
        if name not in self.templates and not IS_VARIABLE.fullmatch(name):
            known = ", ".join(sorted(self.templates)[:20]) or "none"
            self.error(path, f"template '{name}' is not defined (templates: {known})")

    def check_hooks(self, hooks: Any, path: str, scope: Scope) -> None:
        for hook_name, hook in (hooks or {}).items():
            hpath = f"{path}.{hook_name}"
            if hook_name != "exit" and not hook.get("expression"):
                self.error(hpath, "expression is required (only the 'exit' hook runs without one)")
            if hook.get("template"):
                self.check_reference(hook["template"], f"{hpath}.template")
            elif hook.get("templateRef"):
                self.note(f"{hpath}.templateRef", "templateRef targets are not checked here")
            if hook.get("expression"):
                self.scan("{{=" + hook["expression"] + "}}", f"{hpath}.expression", scope)
            self.scan(hook.get("arguments"), f"{hpath}.arguments", scope)

    # -- names and arguments -----------------------------------------------------------------
    def check_field_name(self, name: Any, path: str, what: str) -> None:
        if not isinstance(name, str) or not FIELD_NAME.fullmatch(name) or len(name) > 128:
            self.error(
                path,
                f"{what} name '{name}' is invalid: use letters, digits and '-', starting with a "
                "letter or digit (at most 128 characters)",
            )

    def check_names(self, items: Any, path: str, what: str) -> list[str]:
        names: list[str] = []
        for i, item in enumerate(items or []):
            name = item.get("name") if isinstance(item, dict) else None
            if not name:
                self.error(f"{path}[{i}].name", "is required")
                continue
            if not PARAM_NAME.fullmatch(name):
                self.error(
                    f"{path}[{i}].name",
                    f"{what} name '{name}' is invalid: use letters, digits, '_' and '-'",
                )
            if name in names:
                self.error(f"{path}[{i}].name", f"{what} name '{name}' is not unique")
            names.append(name)
        return names

    def check_arguments(
        self, args: dict[str, Any], path: str, workflow_level: bool = False
    ) -> None:
        params = args.get("parameters") or []
        self.check_names(params, f"{path}.parameters", "parameter")
        self.check_names(args.get("artifacts"), f"{path}.artifacts", "artifact")
        lax = workflow_level and self.kind != "Workflow"
        for i, p in enumerate(params):
            ppath = f"{path}.parameters[{i}]"
            vf = p.get("valueFrom")
            if p.get("value") is None and vf is None and not lax:
                self.error(ppath, f"parameter '{p.get('name')}' needs a value or valueFrom")
            if vf is not None:
                if not (
                    vf.get("configMapKeyRef") or vf.get("event") or vf.get("supplied") is not None
                ):
                    self.error(
                        f"{ppath}.valueFrom",
                        "only default, configMapKeyRef, event and supplied are allowed here",
                    )
                bad = [k for k in ("path", "jsonPath", "parameter", "expression") if vf.get(k)]
                if bad:
                    self.error(f"{ppath}.valueFrom", f"'{bad[0]}' is not allowed in arguments")
            enum = p.get("enum")
            if enum is not None:
                if not enum:
                    self.error(f"{ppath}.enum", "should contain at least one value")
                elif p.get("value") is not None and p["value"] not in enum:
                    self.error(f"{ppath}.value", f"'{p['value']}' is not in enum {enum}")
        for i, a in enumerate(args.get("artifacts") or []):
            apath = f"{path}.artifacts[{i}]"
            if not (a.get("from") or a.get("fromExpression") or has_location(a)) and not lax:
                self.error(
                    apath, f"artifact '{a.get('name')}' needs from, fromExpression or a location"
                )
            if a.get("from") and a.get("fromExpression"):
                self.error(apath, "use either from or fromExpression, not both")

    def check_inputs_supplied(self, tmpl: dict[str, Any], args: dict[str, Any], path: str) -> None:
        """The callee's inputs without a value or default must come as arguments."""
        inputs = tmpl.get("inputs") or {}
        given = {p.get("name") for p in args.get("parameters") or []}
        for p in inputs.get("parameters") or []:
            if p.get("name") not in given and all(
                p.get(k) is None for k in ("value", "default", "valueFrom")
            ):
                self.error(
                    path,
                    f"input parameter '{p.get('name')}' of template '{tmpl.get('name')}' is not supplied",
                )
        given_arts = {a.get("name") for a in args.get("artifacts") or []}
        for a in inputs.get("artifacts") or []:
            if (
                a.get("name") not in given_arts
                and not a.get("optional")
                and not has_location(a)
                and not a.get("from")
            ):
                self.error(
                    path,
                    f"input artifact '{a.get('name')}' of template '{tmpl.get('name')}' is not supplied",
                )

    def resolve_call(self, holder: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, bool]:
        """The template a step/task/hook calls; (None, False) when it cannot be known."""
        if holder.get("templateRef"):
            ref = holder["templateRef"]
            if holder.get("template"):
                self.error(f"{path}.template", "cannot be set together with templateRef")
            self.note(
                f"{path}.templateRef",
                f"'{ref.get('name')}/{ref.get('template')}' lives in another resource and is not checked",
            )
            return None, False
        if holder.get("inline"):
            inline = dict(holder["inline"], name=holder["inline"].get("name") or holder.get("name"))
            self.check_template(inline, f"{path}.inline", False)
            return inline, True
        name = holder.get("template")
        if not name:
            self.error(path, "names no template: set template, templateRef or inline")
            return None, True
        if name in self.templates:
            return self.templates[name][1], True
        self.check_reference(name, f"{path}.template")
        return None, not IS_VARIABLE.fullmatch(name)

    # -- templates ---------------------------------------------------------------------------
    def template_scope(self, tmpl: dict[str, Any], exit_handler: bool) -> Scope:
        scope = self.globals.copy()
        scope.template = tmpl.get("name") or ""
        kind = template_type(tmpl)
        leaf = kind in LEAF_TYPES
        inputs = tmpl.get("inputs") or {}
        for p in inputs.get("parameters") or []:
            scope.names.add(f"inputs.parameters.{p.get('name')}")
            scope.names.add("inputs.parameters")
        for a in inputs.get("artifacts") or []:
            scope.names.add(f"inputs.artifacts.{a.get('name')}")
            if leaf:
                scope.names.add(f"inputs.artifacts.{a.get('name')}.path")
        if kind in POD_TYPES:
            scope.names.add("pod.name")
        if exit_handler:
            scope.names.add("workflow.failures")
        return scope

    def check_template(self, tmpl: dict[str, Any], path: str, exit_handler: bool) -> None:
        if path in self.checked:
            return
        self.checked.add(path)
        name = tmpl.get("name") or "?"
        types = [t for t in TEMPLATE_TYPES if tmpl.get(t) is not None]
        if len(types) != 1:
            what = (
                "no template type" if not types else f"several template types ({', '.join(types)})"
            )
            self.error(
                path,
                f"template '{name}' has {what}: choose exactly one of {', '.join(TEMPLATE_TYPES)}",
            )
        kind = types[0] if types else None
        leaf = kind in LEAF_TYPES
        inputs = tmpl.get("inputs") or {}
        self.check_names(inputs.get("parameters"), f"{path}.inputs.parameters", "parameter")
        self.check_names(inputs.get("artifacts"), f"{path}.inputs.artifacts", "artifact")
        for i, a in enumerate(inputs.get("artifacts") or []):
            if a.get("from") or a.get("fromExpression"):
                self.error(
                    f"{path}.inputs.artifacts[{i}].from",
                    "is not valid in inputs (use it in arguments)",
                )
            if not leaf and kind and a.get("path"):
                self.error(
                    f"{path}.inputs.artifacts[{i}].path",
                    "is only valid in container/script templates",
                )
        check_placement(self, tmpl, path, kind)
        scope = self.template_scope(tmpl, exit_handler)
        if kind == "steps":
            scope = check_steps(self, tmpl, path, scope)
        elif kind == "dag":
            scope = check_dag(self, tmpl, path, scope)
        elif kind:
            check_leaf(self, tmpl, path, kind, scope)
        check_outputs(self, tmpl, path, kind, scope)
        for i, metric in enumerate((tmpl.get("metrics") or {}).get("prometheus") or []):
            mpath = f"{path}.metrics.prometheus[{i}]"
            if not METRIC_NAME.fullmatch(metric.get("name") or ""):
                self.error(
                    f"{mpath}.name",
                    f"metric name '{metric.get('name')}' is invalid: letters, digits and '_'",
                )
            if not metric.get("help"):
                self.error(f"{mpath}.help", "is required")

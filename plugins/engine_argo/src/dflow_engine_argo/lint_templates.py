"""Lint checks of one template: placement rules, leaf templates, outputs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .lint_vars import Scope

if TYPE_CHECKING:
    from .lint import Linter

RETRY_POLICIES = ("Always", "OnFailure", "OnError", "OnTransientError", "")
RESOURCE_ACTIONS = ("get", "create", "apply", "delete", "replace", "patch")
PARAM_NAME = re.compile(r"[-a-zA-Z0-9_]+")
IS_VARIABLE = re.compile(r"{{[-a-zA-Z0-9]+(\.[-a-zA-Z0-9_]+)*}}")
LEAF_TYPES = (
    "container",
    "containerSet",
    "script",
    "resource",
    "suspend",
    "data",
    "http",
    "plugin",
)


def check_placement(linter: Linter, tmpl: dict[str, Any], path: str, kind: str | None) -> None:
    if kind in ("steps", "dag"):
        if tmpl.get("timeout"):
            linter.error(
                f"{path}.timeout",
                f"{kind} templates do not support timeout: set it on the leaf templates",
            )
        if tmpl.get("activeDeadlineSeconds") is not None:
            linter.error(f"{path}.activeDeadlineSeconds", "is only valid for leaf templates")
    elif kind:
        if tmpl.get("parallelism") is not None:
            linter.error(f"{path}.parallelism", "is only valid for steps and dag templates")
    timeout = tmpl.get("timeout")
    if isinstance(timeout, int) or (isinstance(timeout, str) and timeout.strip().isdigit()):
        linter.error(
            f"{path}.timeout", f"'{timeout}' is not a duration: add a unit, e.g. '{timeout}s'"
        )
    ads = tmpl.get("activeDeadlineSeconds")
    if isinstance(ads, int) and ads < 0:
        linter.error(
            f"{path}.activeDeadlineSeconds", "must be a positive integer or an argo variable"
        )
    policy = (tmpl.get("retryStrategy") or {}).get("retryPolicy", "")
    if policy not in RETRY_POLICIES:
        linter.error(
            f"{path}.retryStrategy.retryPolicy",
            f"'{policy}' is not one of {', '.join(RETRY_POLICIES[:-1])}",
        )


def check_leaf(linter: Linter, tmpl: dict[str, Any], path: str, kind: str, scope: Scope) -> None:
    linter.scan(tmpl, path, scope)
    defaults = linter.spec.get("templateDefaults") or {}
    for k in ("container", "script"):
        if kind == k and not tmpl[k].get("image") and not (defaults.get(k) or {}).get("image"):
            linter.error(f"{path}.{k}.image", "may not be empty")
    if kind == "container":
        mounts: dict[str, str] = {}
        for i, m in enumerate(tmpl["container"].get("volumeMounts") or []):
            where = f"{path}.container.volumeMounts[{i}].mountPath"
            if m.get("mountPath") in mounts:
                linter.error(
                    where, f"'{m['mountPath']}' is already mounted by {mounts[m['mountPath']]}"
                )
            mounts[m.get("mountPath")] = f"volume '{m.get('name')}'"
        for i, a in enumerate((tmpl.get("inputs") or {}).get("artifacts") or []):
            if a.get("path") in mounts:
                linter.error(
                    f"{path}.inputs.artifacts[{i}].path",
                    f"'{a['path']}' is already mounted by {mounts[a['path']]}",
                )
    if kind == "resource":
        res = tmpl["resource"]
        action = res.get("action")
        if action not in RESOURCE_ACTIONS and not IS_VARIABLE.fullmatch(str(action)):
            linter.error(
                f"{path}.resource.action", f"must be one of: {', '.join(RESOURCE_ACTIONS)}"
            )
        if action not in ("get", "delete"):
            if not res.get("manifest") and not res.get("manifestFrom"):
                linter.error(f"{path}.resource", "needs manifest or manifestFrom")
            if res.get("manifest") and res.get("manifestFrom"):
                linter.error(f"{path}.resource", "set either manifest or manifestFrom, not both")
        if res.get("manifest"):
            check_yaml(linter, res["manifest"], f"{path}.resource.manifest")


def check_yaml(linter: Linter, text: str, path: str) -> None:
    import yaml

    try:
        yaml.safe_load(re.sub(r"{{.*?}}", "placeholder", text, flags=re.S))
    except yaml.YAMLError as exc:
        linter.error(path, f"must be valid YAML: {str(exc).splitlines()[0]}")


def check_outputs(
    linter: Linter, tmpl: dict[str, Any], path: str, kind: str | None, scope: Scope
) -> None:
    outputs = tmpl.get("outputs") or {}
    opath = f"{path}.outputs"
    linter.check_names(outputs.get("parameters"), f"{opath}.parameters", "parameter")
    linter.check_names(outputs.get("artifacts"), f"{opath}.artifacts", "artifact")
    if kind in ("steps", "dag"):
        linter.scan(outputs, opath, scope)
    for i, a in enumerate(outputs.get("artifacts") or []):
        apath = f"{opath}.artifacts[{i}]"
        if kind in ("steps", "dag") and a.get("path"):
            linter.error(f"{apath}.path", "is only valid in container/script templates")
        if kind in ("container", "script") and not a.get("path"):
            linter.error(f"{apath}.path", f"output artifact '{a.get('name')}' needs a path")
        check_global_name(linter, a, apath)
    for i, p in enumerate(outputs.get("parameters") or []):
        ppath = f"{opath}.parameters[{i}]"
        vf = p.get("valueFrom")
        if vf is not None and p.get("value") is not None:
            linter.error(ppath, "has both valueFrom and value: choose one")
        elif vf is None and p.get("value") is None:
            linter.error(ppath, f"output parameter '{p.get('name')}' needs valueFrom or value")
        elif vf is not None:
            sources = [
                k for k in ("path", "jqFilter", "jsonPath", "parameter", "expression") if vf.get(k)
            ]
            sources += ["supplied"] if vf.get("supplied") is not None else []
            if len(sources) != 1:
                linter.error(
                    f"{ppath}.valueFrom",
                    "needs exactly one of path, jqFilter, jsonPath, parameter, expression, supplied",
                )
            elif kind in ("container", "containerSet", "script") and not vf.get("path"):
                linter.error(f"{ppath}.valueFrom.path", f"must be specified for {kind} templates")
            elif kind == "resource" and not (vf.get("jqFilter") or vf.get("jsonPath")):
                linter.error(
                    f"{ppath}.valueFrom",
                    "jqFilter or jsonPath must be specified for resource templates",
                )
            elif kind in ("steps", "dag") and not (vf.get("parameter") or vf.get("expression")):
                linter.error(
                    f"{ppath}.valueFrom",
                    f"parameter or expression must be specified for {kind} templates",
                )
        check_global_name(linter, p, ppath)


def check_global_name(linter: Linter, item: dict[str, Any], path: str) -> None:
    g = item.get("globalName")
    # a globalName holding a variable anywhere is checked at run time only
    # (workflow/validate/validate.go isParameter: MatchString, v3.7.18 and v4.1.2)
    if g and not IS_VARIABLE.search(g) and not PARAM_NAME.fullmatch(g):
        linter.error(f"{path}.globalName", f"'{g}' is invalid: use letters, digits, '_' and '-'")

"""Read an Argo ``Workflow`` manifest back into a dflow workflow (best effort).

Script templates become Shell/PythonScript templates, ``http`` templates HTTP templates,
``steps``/``dag`` templates Steps/DAG with their steps and tasks; any other template type is
kept verbatim. Rendering the result gives the manifest back (helper steps the renderer once
added, such as success checks, come back as ordinary steps).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from dflow.model.dag import DAG
from dflow.model.helpers import ArgoSequence
from dflow.model.io import PVC, InputArtifact, InputParameter, OutputArtifact, OutputParameter
from dflow.model.op_template import (
    HTTPOPTemplate,
    OPTemplate,
    PythonScriptOPTemplate,
    RetryPolicy,
    Secret,
    ShellOPTemplate,
)
from dflow.model.step import HookStep, Step, Task
from dflow.model.steps import Steps
from dflow.model.workflow import Workflow

from .leaf import PROGRESS
from .values import ArgoArtifact, RawArtifact, RenderError

_LOCATIONS = ("s3", "oss", "gcs", "git", "http", "artifactory", "hdfs", "azure", "plugin", "raw")
_HOOKS = {"success": "success_hook", "running": "running_hook", "failure": "failure_hook"}
_POLICIES = {
    "OnFailure": "failure",
    "OnError": "error",
    "Always": "always",
    "OnTransientError": "transient",
}


class _Verbatim(OPTemplate):
    """A template of a type dflow does not model (container, resource, suspend...)."""

    def __init__(self, name: str, body: dict[str, Any]) -> None:
        super().__init__(name=name)
        self.argo_body = body


def _s3(key: str) -> Any:
    from dflow.storage import S3Artifact

    return S3Artifact.from_dict({"key": key})  # as rendered: no prefix added again


def _location(entry: dict[str, Any]) -> Any:
    for loc in _LOCATIONS:
        if loc in entry:
            if loc == "s3" and set(entry["s3"]) == {"key"}:
                return _s3(entry["s3"]["key"])
            return ArgoArtifact({loc: copy.deepcopy(entry[loc])})
    return None


def _retry(rs: dict[str, Any] | None) -> RetryPolicy | None:
    if not rs:
        return None
    expr = rs.get("expression") or ""
    backoff = rs.get("backoff") or {}
    on = (
        "transient"
        if "lastRetry.exitCode" in expr
        else _POLICIES.get(str(rs.get("retryPolicy")), "always")
    )
    return RetryPolicy(
        int(rs.get("limit") or 0),
        on,
        "!= 2" in expr,
        backoff.get("duration"),
        backoff.get("factor"),
        backoff.get("maxDuration"),
    )


class _Reader:
    def __init__(self, manifest: dict[str, Any]) -> None:
        if not isinstance(manifest, dict) or manifest.get("kind", "Workflow") != "Workflow":
            raise RenderError("from_dict: expected an Argo Workflow manifest (kind: Workflow)")
        self.spec = manifest.get("spec") or {}
        self.raw = {t["name"]: t for t in self.spec.get("templates") or []}
        self.objs: dict[str, OPTemplate] = {}

    def template(self, name: str) -> OPTemplate:
        if name in self.objs:
            return self.objs[name]
        raw = self.raw.get(name)
        if raw is None:
            raise RenderError(f"from_dict: template '{name}' is referenced but not defined")
        body = {k: v for k, v in raw.items() if k != "name"}
        if "steps" in raw or "dag" in raw:
            obj: OPTemplate = (Steps if "steps" in raw else DAG)(
                name=name,
                parallelism=raw.get("parallelism"),
                annotations=(raw.get("metadata") or {}).get("annotations"),
            )
            obj.memoize_key = (raw.get("memoize") or {}).get("key")
            self.objs[name] = obj  # before the body: recursion finds it
            self.io(obj, raw, pod=False)
            self.fill(obj, raw)
            return obj
        if "script" in raw and not set(raw) & {"podSpecPatch", "activeDeadlineSeconds", "daemon"}:
            obj = self.script(name, raw)
        elif "http" in raw and set(raw) <= {"name", "inputs", "outputs", "http", "metadata"}:
            obj = self.http(name, raw)
        else:
            obj = _Verbatim(name, body)
        self.objs[name] = obj
        return obj

    # -- leaves -----------------------------------------------------------------------------
    def script(self, name: str, raw: dict[str, Any]) -> OPTemplate:
        s = raw["script"]
        command = s.get("command") or ["sh"]
        cls = PythonScriptOPTemplate if "python" in command[0] else ShellOPTemplate
        meta = raw.get("metadata") or {}
        ann = dict(meta.get("annotations") or {})
        progress = ann.pop(PROGRESS, None)
        envs: dict[str, Any] = {}
        for e in s.get("env") or []:
            vf = e.get("valueFrom") or {}
            if "secretKeyRef" in vf:
                ref = vf["secretKeyRef"]
                envs[e["name"]] = Secret(name=ref.get("name"), key=ref.get("key", "secret"))
            elif vf:
                envs[e["name"]] = copy.deepcopy(vf)
            else:
                envs[e["name"]] = e.get("value", "")
        res = s.get("resources") or {}
        t = cls(
            name=name,
            image=s.get("image"),
            command=command,
            script=s.get("source", ""),
            annotations=ann,
            labels=meta.get("labels"),
            init_progress=progress,
            image_pull_policy=s.get("imagePullPolicy"),
            requests=res.get("requests"),
            limits=res.get("limits"),
            envs=envs,
            mounts=s.get("volumeMounts"),
            node_selector=raw.get("nodeSelector"),
            tolerations=raw.get("tolerations"),
            affinity=raw.get("affinity"),
            volumes=raw.get("volumes"),
            init_containers=raw.get("initContainers"),
            sidecars=raw.get("sidecars"),
            timeout=raw.get("timeout"),
            retry_strategy=_retry(raw.get("retryStrategy")),
            memoize_key=(raw.get("memoize") or {}).get("key"),
        )
        self.io(t, raw, pod=True)
        return t

    def http(self, name: str, raw: dict[str, Any]) -> OPTemplate:
        h = raw["http"]
        t = HTTPOPTemplate(
            url=h["url"],
            name=name,
            method=(h.get("method") or "GET").lower(),
            headers={x["name"]: x.get("value", "") for x in h.get("headers") or []},
            timeout=h.get("timeoutSeconds"),
            success_condition=h.get("successCondition"),
            body=h.get("body"),
            insecure_skip_verify=bool(h.get("insecureSkipVerify")),
            annotations=(raw.get("metadata") or {}).get("annotations"),
        )
        self.io(t, raw, pod=False)
        return t

    def io(self, t: OPTemplate, raw: dict[str, Any], pod: bool) -> None:
        inputs, outputs = raw.get("inputs") or {}, raw.get("outputs") or {}
        t.inputs.parameters = {
            p["name"]: InputParameter(
                description=p.get("description"), **({"value": p["value"]} if "value" in p else {})
            )
            for p in inputs.get("parameters") or []
        }
        arts = {}
        for a in inputs.get("artifacts") or []:
            art = InputArtifact(
                path=a.get("path"), optional=bool(a.get("optional")), mode=a.get("mode")
            )
            art.source = RawArtifact(a["raw"].get("data", "")) if "raw" in a else _location(a)
            arts[a["name"]] = art
        t.inputs.artifacts = arts
        params = {}
        for p in outputs.get("parameters") or []:
            vf = p.get("valueFrom") or {}
            kw: dict[str, Any] = {}
            if "default" in vf:
                kw["default"] = vf["default"]
            params[p["name"]] = OutputParameter(
                value_from_path=vf.get("path"),
                value_from_parameter=vf.get("parameter"),
                value_from_expression=vf.get("expression"),
                global_name=p.get("globalName"),
                description=p.get("description"),
                **kw,
            )
        t.outputs.parameters = params
        out_arts = {}
        for a in outputs.get("artifacts") or []:
            loc = _location(a)
            out_arts[a["name"]] = OutputArtifact(
                path=a.get("path"),
                _from=a.get("from"),
                from_expression=a.get("fromExpression"),
                archive=None if "none" in (a.get("archive") or {}) else "default",
                global_name=a.get("globalName"),
                optional=bool(a.get("optional")),
                save=[loc] if loc is not None and hasattr(loc, "key") else None,
            )
        t.outputs.artifacts = out_arts

    # -- steps and tasks --------------------------------------------------------------------
    def fill(self, obj: Any, raw: dict[str, Any]) -> None:
        if isinstance(obj, Steps):
            for group in raw["steps"] or []:
                obj.add([self.step(e, Step) for e in group])
        else:
            for e in (raw["dag"] or {}).get("tasks") or []:
                task = self.step(e, Task)
                task.argo_depends = e.get("depends") or ""
                if "dependencies" in e:
                    task.argo_dependencies = list(e["dependencies"])
                obj.add(task)

    def step(self, e: dict[str, Any], cls: type, hook_expression: str | None = None) -> Any:
        if "template" not in e:
            raise RenderError(
                f"from_dict: step '{e.get('name')}' has no template (templateRef "
                "and inline templates are not supported)"
            )
        tmpl = self.template(e["template"])
        args = e.get("arguments") or {}
        params = {p["name"]: p.get("value", "") for p in args.get("parameters") or []}
        arts: dict[str, Any] = {}
        for a in args.get("artifacts") or []:
            if "from" in a:
                src: Any = a["from"] + ("/" + a["subPath"] if a.get("subPath") else "")
            elif "raw" in a:
                src = RawArtifact(a["raw"].get("data", ""))
            else:
                src = _location(a)
                if a.get("subPath"):
                    src = (
                        ArgoArtifact({**src, "subPath": a["subPath"]})
                        if isinstance(src, ArgoArtifact)
                        else src.sub_path(a["subPath"])
                    )
            arts[a["name"]] = src
        for n in list(params) + list(arts):  # undeclared arguments: declare them (lax Argo)
            if n in params and n not in tmpl.inputs.parameters:
                tmpl.inputs.parameters[n] = InputParameter()
            if n in arts and n not in tmpl.inputs.artifacts:
                tmpl.inputs.artifacts[n] = InputArtifact(path=f"/tmp/inputs/artifacts/{n}")
        seq = e.get("withSequence")
        cont = e.get("continueOn") or {}
        kw: dict[str, Any] = {}
        for hook_name, hook in (e.get("hooks") or {}).items():
            if hook_name in _HOOKS and "template" in hook:
                kw[_HOOKS[hook_name]] = self.step(
                    {"name": f"{e['name']}-{hook_name}", **hook}, HookStep, hook.get("expression")
                )
        if cls is HookStep:
            return HookStep(
                tmpl, expression=hook_expression, name=e["name"], parameters=params, artifacts=arts
            )
        return cls(
            e["name"],
            tmpl,
            parameters=params,
            artifacts=arts,
            when=e.get("when"),
            with_param=e.get("withParam"),
            with_sequence=ArgoSequence(
                **{k: seq.get(k) for k in ("count", "start", "end", "format")}
            )
            if seq
            else None,
            continue_on_failed=bool(cont.get("failed")),
            continue_on_error=bool(cont.get("error")),
            **kw,
        )

    def workflow(self, manifest: dict[str, Any]) -> Workflow:
        meta = manifest.get("metadata") or {}
        name = meta.get("name") or re.sub(r"-+$", "", meta.get("generateName") or "workflow")
        entry = self.template(self.spec["entrypoint"])
        if not isinstance(entry, Steps | DAG):
            raise RenderError("from_dict: the entrypoint must be a steps or dag template")
        args = (self.spec.get("arguments") or {}).get("parameters") or []
        wf = Workflow(
            name=name,
            steps=entry if isinstance(entry, Steps) else None,
            dag=entry if isinstance(entry, DAG) else None,
            id=meta.get("name"),
            annotations=meta.get("annotations"),
            labels=meta.get("labels"),
            parallelism=self.spec.get("parallelism"),
            pod_gc_strategy=(self.spec.get("podGC") or {}).get("strategy"),
            image_pull_secrets=[s["name"] for s in self.spec.get("imagePullSecrets") or []] or None,
            artifact_repo_key=(self.spec.get("artifactRepositoryRef") or {}).get("key"),
            parameters={p["name"]: p.get("value", "") for p in args},
            on_exit=self.template(self.spec["onExit"]) if self.spec.get("onExit") else None,
        )
        # the claims, on the entrypoint: a template's pvcs render as volumeClaimTemplates
        entry.pvcs = [claim_of(c) for c in self.spec.get("volumeClaimTemplates") or []]
        return wf


def claim_of(entry: dict[str, Any]) -> PVC:
    """The claim of a ``volumeClaimTemplates`` entry."""
    spec = entry.get("spec") or {}
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    name = (entry.get("metadata") or {}).get("name") or ""
    return PVC(name, "", str(size), spec.get("storageClassName"), spec.get("accessModes"))


def workflow_from_manifest(manifest: dict[str, Any]) -> Workflow:
    """The dflow workflow of an Argo ``Workflow`` manifest (see the module docstring)."""
    return _Reader(manifest).workflow(manifest)

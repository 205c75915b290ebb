"""``submit(reuse_step=[...])``: journal queried steps as Succeeded under their keys.

A step about to run whose key matches is then not run; its outputs are the reused step's
(including values changed with ``modify_output_parameter`` / ``modify_output_artifact``).
As pydflow does on Argo (it copies a modified artifact back to its key and presets the
workflow's global outputs from the reused steps):

- an artifact held in a store (a modified one, or one of a workflow run elsewhere) is fetched
  once and linked at the reused step's ``outputs/artifacts/<name>``, so the steps that read
  it get its files, never the stored archive;
- the reused steps' outputs with a ``globalName`` are the new workflow's global outputs from
  the start, whether or not the reused steps are reached.
"""

from __future__ import annotations

import os
from typing import Any

from dflow.model.io import OutputArtifact, OutputParameter, Outputs
from dflow.serialization import dump_value

from .artifacts import resolve_artifact
from .journal import Node, now_iso
from .layout import StepDir, place
from .state import RunContext
from .stepfiles import write_node_files
from .values import Result, StepError
from .wfglobals import publish_globals

_STORES = ("s3", "oss", "gcs")


def _params(section: Any) -> dict:
    out = {}
    for name, p in (section.get("parameters") or {}).items():
        d = p.recover() if hasattr(p, "recover") else dict(p)
        value = d.get("value")
        if value is None and hasattr(p, "value"):
            value = dump_value(p.value)
        out[name] = {
            "value": value if isinstance(value, str) else dump_value(value),
            "type": d.get("type"),
        }
        if d.get("globalName"):
            out[name]["globalName"] = d["globalName"]
    return out


def _stored_artifact(kind: str, key: str) -> Any:
    from dflow.config import s3_config
    from dflow.storage.artifacts import S3Artifact

    repo_prefix = s3_config.get("repo_prefix") or ""
    if kind == "oss" and repo_prefix and key.startswith(repo_prefix):
        key = key[len(repo_prefix) :]  # an Argo OSS location carries the repo prefix
    return S3Artifact.from_dict({"key": key})


def _arts(ctx: RunContext, sd: StepDir, step_name: str, section: Any) -> dict:
    out = {}
    for name, a in (section.get("artifacts") or {}).items():
        where = f"reuse_step: step '{step_name}', artifact '{name}'"
        stored = next(
            ((k, a[k]["key"]) for k in _STORES if isinstance(a.get(k), dict) and a[k].get("key")),
            None,
        )
        path = a.get("local_path")
        fetched = stored is not None and (path is None or bool(a.get("modified")))
        if stored is not None and fetched:
            try:
                path = resolve_artifact(ctx, None, _stored_artifact(*stored), {}, where)
            except StepError as exc:
                raise ValueError(str(exc)) from None
        if path is not None and not os.path.exists(path):
            raise ValueError(
                f"{where}: {path} does not exist (give modify_output_artifact an "
                "uploaded artifact or an existing path)"
            )
        if fetched or a.get("modified"):  # shown where the step's outputs are
            place(path, sd.artifact_path("outputs", name), "symlink")
        out[name] = {"local_path": path}
        if a.get("globalName"):
            out[name]["globalName"] = a["globalName"]
    return out


def _preset_globals(ctx: RunContext, outputs: dict) -> None:
    params = {n: v for n, v in outputs["parameters"].items() if v.get("globalName")}
    arts = {
        n: v for n, v in outputs["artifacts"].items() if v.get("globalName") and v.get("local_path")
    }
    if not params and not arts:
        return
    declared = Outputs(
        parameters={n: OutputParameter(global_name=v["globalName"]) for n, v in params.items()},
        artifacts={n: OutputArtifact(global_name=v["globalName"]) for n, v in arts.items()},
    )
    res = Result(
        "Succeeded",
        params={n: v["value"] or "" for n, v in params.items()},
        types={n: v.get("type") for n, v in params.items()},
        arts={n: v["local_path"] for n, v in arts.items()},
    )
    publish_globals(ctx, declared, res)


def apply_reuse(ctx: RunContext, steps: list[Any]) -> None:
    for step in steps:
        key = step.get("key")
        name = step.get("displayName", step.get("id"))
        if not key:
            raise ValueError(
                f"reuse_step: step '{name}' has no key; only "
                "steps created with Step(..., key=...) can be reused"
            )
        old = ctx.journal.get(key)
        sd = StepDir(ctx.wf_dir, key)
        node = Node(
            id=key,
            parent_id=old.parent_id if old else None,
            path=old.path if old else "",
            seq=old.seq if old else 0,
            name=step.get("name") or key,
            display_name=step.get("displayName") or key,
            key=key,
            type=step.get("type") or "Pod",
            phase="Succeeded",
            template=step.get("templateName") or "",
            dir=key,
            inputs={"parameters": _params(step["inputs"]), "artifacts": {}},
            outputs={"parameters": _params(step["outputs"]), "artifacts": {}},
            started=step.get("startedAt") or now_iso(),
            finished=step.get("finishedAt") or now_iso(),
            message="reused",
        )
        node.outputs["artifacts"] = _arts(ctx, sd, name, step["outputs"])
        ctx.journal.put(node)
        write_node_files(sd, node, node.display_name)  # its phase last
        _preset_globals(ctx, node.outputs)
    ctx.journal.flush()

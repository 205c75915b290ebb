"""``submit(reuse_step=[...])``: journal queried steps as Succeeded under their keys.

A step about to run whose key matches is then not run; its outputs are the reused step's
(including values changed with ``modify_output_parameter`` / ``modify_output_artifact``).
"""

from __future__ import annotations

from typing import Any

from dflow.serialization import dump_value

from .journal import Node, now_iso
from .layout import StepDir


def _params(section: Any) -> dict:
    out = {}
    for name, p in (section.get("parameters") or {}).items():
        d = p.recover() if hasattr(p, "recover") else dict(p)
        value = d.get("value")
        if value is None and hasattr(p, "value"):
            value = dump_value(p.value)
        out[name] = {"value": value if isinstance(value, str) else dump_value(value),
                     "type": d.get("type")}
    return out


def _arts(section: Any) -> dict:
    out = {}
    for name, a in (section.get("artifacts") or {}).items():
        path = a.get("local_path")
        if path is None:
            for kind in ("s3", "oss", "gcs"):
                if isinstance(a.get(kind), dict) and a[kind].get("key"):
                    from dflow.backends import get_storage_client

                    client = get_storage_client()
                    if hasattr(client, "local_path"):
                        path = client.local_path(a[kind]["key"])
        out[name] = {"local_path": path}
    return out


def apply_reuse(run: Any, steps: list[Any]) -> None:
    for step in steps:
        key = step.get("key")
        if not key:
            raise ValueError(
                f"reuse_step: step '{step.get('displayName', step.get('id'))}' has no key; only "
                "steps created with Step(..., key=...) can be reused"
            )
        old = run.journal.get(key)
        node = Node(id=key, parent_id=old.parent_id if old else None, path=old.path if old else "",
                    seq=old.seq if old else 0, name=step.get("name") or key,
                    display_name=step.get("displayName") or key, key=key,
                    type=step.get("type") or "Pod", phase="Succeeded",
                    template=step.get("templateName") or "", dir=key,
                    inputs={"parameters": _params(step["inputs"]), "artifacts": {}},
                    outputs={"parameters": _params(step["outputs"]),
                             "artifacts": _arts(step["outputs"])},
                    started=step.get("startedAt") or now_iso(),
                    finished=step.get("finishedAt") or now_iso(), message="reused")
        run.journal.put(node)
        sd = StepDir(run.wf_dir, key)
        sd.create(node.display_name, node.type)
        sd.set_phase("Succeeded")
        for name, v in node.outputs["parameters"].items():
            sd.write_parameter("outputs", name, v["value"] or "")
    run.journal.flush()

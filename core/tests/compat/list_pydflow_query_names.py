"""Regenerate ``pydflow_query_names.json``: what pydflow's Argo mode returns for name queries.

Run it with pydflow's own interpreter; it is a black-box record (pydflow's answers on Argo's
recorded ``status.nodes`` trees, not its code)::

    /work/ref/pydflow-venv/bin/python core/tests/compat/list_pydflow_query_names.py

For every tree under ``../shared/argo/status-v4.1`` and every display name in it (and the part
of it before a ``(``), the ids of ``ArgoWorkflow(tree).get_step(name=...)``. Queries pydflow
crashes on (nodes without ``startedAt``) are left out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
STATUS = HERE.parents[2].parent / "shared" / "argo" / "status-v4.1"
OUT = HERE / "pydflow_query_names.json"


def names_of(tree: dict) -> list[str]:
    shown = {n["displayName"] for n in tree["status"]["nodes"].values() if n.get("displayName")}
    return sorted(shown | {s.split("(", 1)[0] for s in shown})


def main() -> int:
    from dflow.argo_objects import ArgoWorkflow

    answers: dict[str, dict[str, list[str]]] = {}
    for path in sorted(STATUS.glob("*.yaml")):
        tree = yaml.safe_load(path.read_text())
        if not tree or not (tree.get("status") or {}).get("nodes"):
            continue
        for name in names_of(tree):
            try:
                ids = sorted(s["id"] for s in ArgoWorkflow(tree).get_step(name=name))
            except (KeyError, TypeError):
                continue
            answers.setdefault(path.name, {})[name] = ids
    OUT.write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")
    print(f"{OUT}: {sum(len(v) for v in answers.values())} queries on {len(answers)} trees")
    return 0


if __name__ == "__main__":
    sys.exit(main())

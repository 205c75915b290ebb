"""Retry and resubmit a local run from another process: run its script again.

The local engine needs a workflow's definition to run it, and a definition (Python OPs, often
defined in the script itself) cannot be rebuilt from the journal. What the journal keeps is how
the run was launched (``meta.launch``: interpreter, script arguments, working directory and
``DFLOW_*`` variables), so ``dflow retry ID`` runs the script again with the workflow's id
pinned (``DFLOW_RESUME_ID=<name>=<id>``: its next submit of that name resumes the run, steps
that succeeded are not run again) and ``dflow resubmit ID`` runs it again as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from dflow.engine import EngineError

from .journal import DB_NAME, connect, read_meta

RESUME_ENV = "DFLOW_RESUME_ID"


def launch_record(workflow: Any) -> dict[str, Any] | None:
    """How this process was started, when it runs a script a user can run again."""
    script = sys.argv[0] if sys.argv else ""
    if not script.endswith(".py") or not os.path.isfile(script):
        return None  # a notebook, `python -c`, the dflow command: nothing to run again
    return {
        "python": sys.executable,
        "argv": [os.path.abspath(script), *sys.argv[1:]],
        "cwd": os.getcwd(),
        "name": workflow.name,
        "env": {k: v for k, v in os.environ.items() if k.startswith("DFLOW_") and k != RESUME_ENV},
    }


def save_launch(wf_dir: str, record: dict[str, Any] | None) -> None:
    if record is None:
        return
    conn = connect(os.path.join(wf_dir, DB_NAME))
    try:
        conn.execute(
            "INSERT INTO meta(k, v) VALUES('launch', ?) ON CONFLICT(k) DO UPDATE SET v=excluded.v",
            (json.dumps(record),),
        )
    finally:
        conn.close()


def pinned_id(name: str) -> str | None:
    """The id ``dflow retry`` asks the first submit of workflow ``name`` to resume (once)."""
    value = os.environ.get(RESUME_ENV, "")
    pinned_name, _, wf_id = value.partition("=")
    if wf_id and pinned_name == name:
        del os.environ[RESUME_ENV]
        return wf_id
    return None


def relaunch(wf_dir: str, workflow_id: str, action: str) -> None:
    """Run the workflow's script again (``retry``: resuming ``workflow_id``)."""
    conn = connect(os.path.join(wf_dir, DB_NAME), readonly=True)
    try:
        record = read_meta(conn, "launch")
    finally:
        conn.close()
    if not record:
        raise EngineError(
            f"cannot {action} workflow '{workflow_id}' from here: it was not submitted by a "
            "script (a notebook or `python -c`); build it again and call "
            f"Workflow(..., id='{workflow_id}').submit() to resume it"
        )
    env = {**os.environ, **record.get("env", {})}
    env.pop(RESUME_ENV, None)
    if action == "retry":
        env[RESUME_ENV] = f"{record['name']}={workflow_id}"
    command = [record["python"], *record["argv"]]
    print(
        f"dflow: {action} of {workflow_id}: running {' '.join(command)} in {record['cwd']}",
        file=sys.stderr,
    )
    sys.stderr.flush()
    done = subprocess.run(command, cwd=record["cwd"], env=env, check=False)
    if done.returncode:
        raise EngineError(
            f"{action} of workflow '{workflow_id}': the script {record['argv'][0]} exited "
            f"with {done.returncode}"
        )

"""Run dflow's validator over pydflow-style scripts without running their workflows.

Usage (a dev tool, not a test: the corpora are other projects' code and stay outside the repo)::

    python core/tests/compat/validate_corpus.py SCRIPT_OR_DIR... [--json out.json]

Each script runs in its own subprocess and temporary directory, once per ``test_*`` function
it defines (as ``__main__`` when it has none), with a ``validate`` engine selected through
``config["mode"]``: its ``submit()`` records the workflow's validation problems and answers
with an empty succeeded run, so the script goes on to its next workflow until it needs real
results. Errors stop ``Workflow.submit`` before the engine is reached; they are recorded from
the :class:`~dflow.validation.ValidationError`. A script that fails before its first submit is
reported with its exception (a missing package, a refused pydflow module...).
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any


def _install_validate_engine(records: list[dict]) -> None:
    from dflow.argo_objects import ArgoWorkflow
    from dflow.config import config
    from dflow.engine import Engine
    from dflow.plugins import hookimpl
    from dflow.plugins.manager import PluginManager, reset_plugin_manager
    from dflow.plugins.records import EngineRecord
    from dflow.validation import problems_of

    class ValidateEngine(Engine):
        name = "validate"

        def submit(self, workflow: Any, *, reuse_step: Any = None, wait: Any = None) -> Any:
            # Workflow.submit validated already: only warnings are left to record. The
            # script goes on (to its next workflow) with an empty, succeeded run.
            records.append(_record(workflow, problems_of(workflow)))
            workflow.id = f"{workflow.name}-{len(records)}"
            return self.query(workflow.id)

        def query(self, workflow_id: str) -> ArgoWorkflow:
            return ArgoWorkflow(
                {"metadata": {"name": workflow_id}, "status": {"phase": "Succeeded", "nodes": {}}}
            )

    class Plugin:
        @hookimpl
        def dflow_engines(self) -> list:
            return [EngineRecord(name="validate", factory=lambda cfg: ValidateEngine())]

    pm = PluginManager()
    pm.register(Plugin(), "validate-corpus")
    reset_plugin_manager(pm)
    config["mode"] = "validate"


def _record(workflow: Any, problems: list) -> dict:
    return {
        "workflow": workflow.name,
        "errors": [str(p) for p in problems if getattr(p, "severity", "error") == "error"],
        "warnings": [str(p) for p in problems if getattr(p, "severity", "error") == "warning"],
    }


def _run_entry(run: Any, records: list[dict], label: str) -> dict | None:
    from dflow.validation import ValidationError

    before = len(records)
    try:
        run()
    except ValidationError as exc:
        wf = _failing_workflow(exc)
        records.append(
            {
                "workflow": wf,
                "errors": [
                    str(p) for p in exc.problems if getattr(p, "severity", "error") == "error"
                ],
                "warnings": [],
            }
        )
    except BaseException as exc:  # the script failed before submitting: report why
        if len(records) == before:
            lines = traceback.format_exception_only(type(exc), exc)
            return {"entry": label, "failed": "".join(lines).strip()[:400]}
    return None


def _failing_workflow(exc: Any) -> str:
    first = str(exc.problems[0].path) if exc.problems else "?"
    return first.split("/", 1)[0]


def run_one(script: Path) -> dict:
    """Validate every workflow ``script`` submits (in this process; call in a subprocess)."""
    records: list[dict] = []
    _install_validate_engine(records)
    sys.path.insert(0, str(script.parent))
    failures = []
    namespace: dict = {}

    def as_main() -> None:
        namespace.update(runpy.run_path(str(script), run_name="__main__"))

    module: dict = {}
    try:
        module = runpy.run_path(str(script), run_name="corpus_module")
    except BaseException:  # reported through __main__ below
        module = {}
    tests = {n: f for n, f in sorted(module.items()) if n.startswith("test_") and callable(f)}
    # a script with test_* functions runs each of them; its __main__ block calls some of them
    entries = list(tests.items()) or [("__main__", as_main)]
    for name, func in entries:
        out = _run_entry(func, records, name)
        if out:
            failures.append(out)
    return {"script": str(script), "workflows": records, "failed": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.paths[0].resolve())))
        return 0
    scripts = []
    for p in args.paths:
        scripts += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    results = []
    for script in scripts:
        with tempfile.TemporaryDirectory() as work:
            proc = subprocess.run(
                [sys.executable, __file__, "--one", str(script.resolve())],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "DFLOW_DEBUG_WORKDIR": work},
            )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{"script"')]
        if lines:
            results.append(json.loads(lines[-1]))
        else:
            results.append(
                {
                    "script": str(script),
                    "workflows": [],
                    "failed": [{"entry": "*", "failed": proc.stderr[-400:]}],
                }
            )
    n_wf = sum(len(r["workflows"]) for r in results)
    n_err = sum(1 for r in results for w in r["workflows"] if w["errors"])
    n_warn = sum(1 for r in results for w in r["workflows"] if w["warnings"])
    for r in results:
        for w in r["workflows"]:
            for e in w["errors"]:
                print(f"ERROR   {Path(r['script']).name}: {e}")
            for e in w["warnings"]:
                print(f"warning {Path(r['script']).name}: {e}")
        for f in r["failed"]:
            print(
                f"no-run  {Path(r['script']).name} [{f['entry']}]: {f['failed'].splitlines()[-1]}"
            )
    print(
        f"{len(results)} scripts, {n_wf} workflows validated: {n_err} with errors, "
        f"{n_warn} with warnings; {sum(len(r['failed']) for r in results)} entries did not "
        "reach submit"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

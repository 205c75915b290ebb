"""Python OP steps sent to an executor (Slurm, DPDispatcher...): ``python -m dflow.runner``.

The job's working directory holds ``tmp/inputs`` (the step's inputs, copied so a remote host
receives real files) and gets ``tmp/outputs``; the OP is named ``module:qualname`` or, for
OPs defined in a script or test file, ``path/to/file.py:qualname``. After the job its outputs
are moved into the step's ``outputs/``.
"""

from __future__ import annotations

import inspect
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import attrs

from .layout import place, remove, write_text


def op_spec(op_type: type) -> list[str]:
    module = op_type.__module__
    mod = sys.modules.get(module)
    importable = module != "__main__" and mod is not None and getattr(
        mod, "__spec__", None) is not None and "." not in op_type.__qualname__.replace(
        op_type.__name__, "")
    if importable and module.split(".")[0] in sys.modules and _findable(module):
        spec = ["--op", f"{module}:{op_type.__qualname__}"]
        origin = getattr(mod, "__file__", None)
        if origin:  # the import root, for modules found through a sys.path entry of ours
            root = os.path.dirname(os.path.abspath(origin))
            for _ in range(module.count(".")):
                root = os.path.dirname(root)
            if "site-packages" not in root:
                spec += ["--sys-path", root]
        return spec
    source = inspect.getsourcefile(op_type)
    if source is None:
        raise ValueError(f"OP {op_type.__qualname__}: cannot find its source file for an executor")
    return ["--op-file", f"{os.path.abspath(source)}:{op_type.__qualname__}"]


def _findable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


async def attempt_python_job(run: Any, executor: Any, tmpl: Any, node: Any, sd: Any,
                             slice_index: Any, key: str | None, display: str) -> Any:
    from dflow.executor import ScriptJob

    tmp = os.path.join(sd.workdir, "tmp")
    os.makedirs(tmp, exist_ok=True)
    place(sd.inputs, os.path.join(tmp, "inputs"), "copy")
    remove(os.path.join(tmp, "outputs"))
    os.makedirs(os.path.join(tmp, "outputs"))
    python = tmpl.command[0] if tmpl.command else "python3"  # the template's interpreter
    argv = [python, "-m", "dflow.runner", *op_spec(tmpl.op_type), "--inputs", "tmp/inputs",
            "--outputs", "tmp/outputs", "--workdir", ".", "--workflow-name", run.wf_id]
    if slice_index is not None:
        argv += ["--slice-index", json.dumps(slice_index),
                 "--slices", json.dumps(attrs.asdict(tmpl.slices))]
    if key:
        argv += ["--key", key]
    for p in run.package_paths(tmpl):
        argv += ["--sys-path", p]
    write_text(sd.script, " ".join(shlex.quote(a) for a in argv) + "\n")
    job = ScriptJob(name=node.id, workflow_id=run.wf_id, script_path=Path(sd.script),
                    command=("sh",), workdir=Path(sd.workdir), log_path=Path(sd.log),
                    env=run.env_strings(tmpl),
                    inputs=("tmp/inputs",), outputs=("tmp/outputs",),
                    timeout=tmpl.timeout_seconds)
    from .batch import job_outcome, run_job

    result = await run_job(run, executor, job)
    produced = os.path.join(tmp, "outputs")
    if os.path.isdir(produced):
        for entry in os.listdir(produced):
            dest = os.path.join(sd.outputs, entry)
            remove(dest)
            shutil.move(os.path.join(produced, entry), dest)
    return job_outcome(run, executor, result, display, python=True)

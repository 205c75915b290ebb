"""Python OP steps sent to an executor (Slurm, DPDispatcher...): ``python -m dflow.runner``.

The job's working directory holds ``tmp/inputs`` (the step's inputs, copied so a remote host
receives real files), ``tmp/packages`` (the template's ``python_packages`` and the OP's own
file, linked) and gets ``tmp/outputs``; the OP is named ``module:qualname`` or, for OPs
defined in a script or test file, ``path/to/file.py:qualname``. The step's outputs are read
from ``tmp/outputs`` (or the template's ``tmp_root``), as for a step run in the pool.

The job's runner runs without the step cache (a remote host has neither the cache nor its
credentials): :func:`.attempts.attempt_cached_job` checks before submitting, with the inputs
here, and stores the outputs the job brought back (docs/cache.md).
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

from dflow.executor import Executor
from dflow.python.template import PythonOPTemplate

from .batch import job_outcome, run_job
from .journal import Node
from .layout import StepDir, place, remove, write_text
from .outcome import Outcome
from .state import RunContext, SliceIndex
from .values import env_strings


def op_spec(op_type: type) -> list[str]:
    module = op_type.__module__
    mod = sys.modules.get(module)
    importable = (
        module != "__main__"
        and mod is not None
        and getattr(mod, "__spec__", None) is not None
        and "." not in op_type.__qualname__.replace(op_type.__name__, "")
    )
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


def interpreter_lines(tmpl: Any) -> list[str]:
    """Shell lines putting the job's interpreter in ``$py`` (its own arguments in ``$@``).

    A template with its own command runs with it. The default (``python3``) would be
    whatever ``python3`` comes first on the job's PATH, which, with a venv that is not
    activated, is not the one that has dflow: use the interpreter running this workflow
    where it exists (this host, a shared filesystem), else ``python3`` (a remote host).
    """
    command = list(tmpl.command or ["python3"])
    args = f"set -- {shlex.join(command[1:])}" if command[1:] else "set --"
    if command != list(type(tmpl).default_command):
        return [f"py={shlex.quote(command[0])}", args]
    return [f"py={shlex.quote(sys.executable)}", '[ -x "$py" ] || py=python3', args]


def ship_packages(ctx: RunContext, tmpl: Any, argv: list[str], tmp: str) -> list[str]:
    """Link the OP's file and python_packages (``upload_packages``) into ``tmp/packages``;
    rewrite ``argv`` to use them. Returns the job inputs to send along (relative paths).

    Links cost nothing where the job runs here; executors that send inputs to another
    host send the files they point to, so an OP runs there as it does on Argo.
    """
    root = os.path.join(tmp, "packages")
    remove(root)
    shipped: list[str] = []
    for i, pkg in enumerate(getattr(tmpl, "python_packages", None) or []):
        pkg = os.path.abspath(pkg).rstrip("/")
        if not os.path.exists(pkg):
            continue
        rel = f"tmp/packages/{i}"
        place(pkg, os.path.join(tmp, "packages", str(i), os.path.basename(pkg)), "symlink")
        argv += ["--sys-path", rel]
        shipped.append(rel)
    if "--op-file" in argv:
        at = argv.index("--op-file") + 1
        path, _, qualname = argv[at].rpartition(":")
        rel = f"tmp/packages/op/{os.path.basename(path)}"
        place(path, os.path.join(tmp, "packages", "op", os.path.basename(path)), "symlink")
        argv[at] = f"{rel}:{qualname}"  # resolved by the runner: next to its siblings here
        shipped.append(rel)
    return shipped


async def attempt_python_job(
    ctx: RunContext,
    executor: Executor,
    tmpl: PythonOPTemplate,
    node: Node,
    sd: StepDir,
    slice_index: SliceIndex,
    key: str | None,
    display: str,
    timeout: float | None,
) -> Outcome:
    from dflow.executor import ScriptJob

    tmp = os.path.join(sd.workdir, "tmp")
    os.makedirs(tmp, exist_ok=True)
    inputs = os.path.join(tmp, "inputs")
    fresh = inputs + ".new"
    remove(fresh)
    if os.path.isdir(sd.inputs):
        place(sd.inputs, fresh, "copy")
    else:  # an OP without inputs: nothing was written, the runner still reads the dir
        os.makedirs(fresh)
    staged = os.path.join(sd.tmp(tmpl.tmp_root), "inputs", "artifacts")
    if os.path.isdir(staged):  # the artifacts as the OP sees them (sub_path items in place)
        place(staged, os.path.join(fresh, "artifacts"), "copy")
    remove(inputs)
    os.rename(fresh, inputs)
    remove(os.path.join(tmp, "outputs"))
    os.makedirs(os.path.join(tmp, "outputs"))
    from dflow.shipping.runtime import main_op_args, stage_runtime

    # the pod runtime travels with the job (any python3 of 3.7+ runs it), and an OP of
    # __main__ as the selection of its code, never the whole script
    runtime = stage_runtime(sd.workdir)
    op_args = main_op_args(tmpl.op_type) or op_spec(tmpl.op_type)
    argv = [
        "-m",
        "dflow.runner",
        *op_args,
        "--inputs",
        "tmp/inputs",
        "--outputs",
        "tmp/outputs",
        "--workdir",
        ".",
        "--workflow-name",
        ctx.wf_id,
    ]
    if slice_index is not None:
        assert tmpl.slices is not None  # a slice index exists only for a sliced template
        argv += [
            "--slice-index",
            json.dumps(slice_index),
            "--slices",
            json.dumps(tmpl.slices.to_dict()),
        ]
    if key:
        argv += ["--key", key]
    shipped = ship_packages(ctx, tmpl, argv, tmp)
    path = f'PYTHONPATH="$PWD/{runtime}${{PYTHONPATH:+:$PYTHONPATH}}" '
    script = [*interpreter_lines(tmpl), path + '"$py" "$@" ' + shlex.join(argv)]
    write_text(sd.script, "\n".join(script) + "\n")
    job = ScriptJob(
        name=node.id,
        workflow_id=ctx.wf_id,
        script_path=Path(sd.script),
        command=("sh",),
        workdir=Path(sd.workdir),
        log_path=Path(sd.log),
        env=env_strings(tmpl),
        inputs=("tmp/inputs", runtime, *shipped),
        outputs=("tmp/outputs",),
        timeout=timeout,
    )

    result = await run_job(ctx, executor, job)
    own = sd.tmp(tmpl.tmp_root)
    if own != tmp and os.path.isdir(os.path.join(tmp, "outputs")):
        # where a pool worker would have written them: the template's tmp_root
        remove(os.path.join(own, "outputs"))
        os.makedirs(own, exist_ok=True)
        shutil.move(os.path.join(tmp, "outputs"), os.path.join(own, "outputs"))
    return job_outcome(ctx, executor, result, display, python=True, log=sd.log)

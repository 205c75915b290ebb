"""Staging a step for DPDispatcher and bringing its results back.

Each job gets a task directory under the submission's local root holding links to its inputs,
a copy of its script and a small wrapper (``.dflow-task.sh``) that exports the step's
environment, runs pre_script, the script and post_script, and records the script's exit status
in ``.dflow-exit-code``: DPDispatcher itself only knows "finished" or "failed" per job.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from dflow.executor import ScriptJob

SCRIPT = ".dflow-script"
WRAPPER = ".dflow-task.sh"
EXIT_FILE = ".dflow-exit-code"


def container_command(
    command: list[str],
    image: str | None,
    docker: str | None,
    singularity: str | None,
    podman: str | None,
    args: str,
) -> list[str]:
    """Wrap ``command`` to run inside ``image`` when a container executable is configured."""
    engine = docker or podman
    if not (engine or singularity):
        return command
    if not image:
        raise ValueError(
            "a container executable is set on DispatcherExecutor but the step has no image: "
            "give the step an image or drop docker/singularity/podman_executable"
        )
    extra = shlex.split(args or "")
    if engine:
        return [engine, "run", "--rm", "-v", "$PWD:$PWD", "-w", "$PWD", *extra, image, *command]
    return [singularity, "exec", *extra, image, *command]  # type: ignore[list-item]


def wrapper_script(job: ScriptJob, command: list[str], pre_script: str, post_script: str) -> str:
    """The shell wrapper a task runs; ``$PWD`` in container commands stays unquoted."""
    exports = [
        f"export {k}={shlex.quote(v)}" for k, v in {"DFLOW_POD": job.name, **job.env}.items()
    ]
    run = " ".join(part if "$PWD" in part else shlex.quote(part) for part in [*command, SCRIPT])
    # the script writes its outputs where the step's workdir had them: their folders must exist
    parents = sorted({os.path.dirname(name) for name in job.outputs} - {""})
    mkdir = [f"mkdir -p {shlex.join(parents)}"] if parents else []
    return "\n".join(
        [
            "#!/bin/bash",
            *exports,
            *mkdir,
            pre_script,
            run,
            "rc=$?",
            post_script,
            f"echo $rc > {EXIT_FILE}",
            "exit $rc",
            "",
        ]
    )


def stage_task(job: ScriptJob, task_dir: Path, wrapper: str) -> list[str]:
    """Fill ``task_dir`` for ``job``; return its forward files (relative to ``task_dir``)."""
    task_dir.mkdir(parents=True)
    forward = []
    for name in job.inputs:
        source = (Path(job.workdir) / name).resolve()
        if not source.exists():
            continue  # an optional input that was not given
        target = task_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(source, target)
        forward.append(name)
    shutil.copyfile(job.script_path, task_dir / SCRIPT)
    (task_dir / WRAPPER).write_text(wrapper)
    return [*forward, SCRIPT, WRAPPER]


def collect_outputs(job: ScriptJob, task_dir: Path) -> list[str]:
    """Copy the job's outputs from ``task_dir`` into its workdir; return the missing ones."""
    missing = []
    for name in job.outputs:
        source = task_dir / name
        target = Path(job.workdir) / name
        if not source.exists():
            missing.append(name)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=False)
        else:
            shutil.copyfile(source, target)
    return missing


def exit_code(task_dir: Path) -> int | None:
    """The script's exit status, or None when it never finished."""
    try:
        return int((task_dir / EXIT_FILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def read_logs(task_dir: Path, outlog: str | None, errlog: str | None) -> str:
    """The task's stdout (and stderr, when it went to another file)."""
    texts = []
    for name in dict.fromkeys(n for n in (outlog, errlog) if n):
        try:
            texts.append((task_dir / name).read_text(errors="replace"))
        except OSError:
            pass
    return "".join(texts)

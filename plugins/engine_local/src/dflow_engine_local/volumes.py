"""Artifacts passed through a shared volume (``OutputArtifact.pvc()``) on the local engine.

The run's ``volumes/<name>/`` directory stands for the claim Argo mounts at ``/tmp/mnt``.
A reader's input artifact is a link to ``volumes/<name>/<subpath>``, made before its script
starts (dangling until the copy lands); a producer's output is copied there when its step
has succeeded, under a temporary name first, so a reader never sees half of it.
"""

from __future__ import annotations

import asyncio
import os
import shutil

from dflow.model.io import PVC, volume_saves
from dflow.model.step import Step

from .layout import remove
from .state import RunContext
from .values import Result


def volume_path(ctx: RunContext, pvc: PVC) -> str:
    """Where ``pvc`` lives in this run."""
    return os.path.join(ctx.wf_dir, "volumes", pvc.name, pvc.subpath)


async def save_to_volumes(ctx: RunContext, step: Step, res: Result) -> None:
    """Copy the succeeded step's outputs saved with ``.pvc()`` to their volume paths."""
    for name, pvc in volume_saves(step):
        src = res.arts.get(name)
        if src is not None:  # an optional output not produced: nothing to pass on
            await asyncio.to_thread(_copy_in, src, volume_path(ctx, pvc))


def _copy_in(src: str, dst: str) -> None:
    part = os.path.join(os.path.dirname(dst), f".{os.path.basename(dst)}.{os.getpid()}.part")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    remove(part)  # left by a run killed while copying
    if os.path.isdir(src):
        shutil.copytree(src, part, symlinks=True)
    else:
        shutil.copy2(src, part)
    remove(dst)  # a re-run step replaces its earlier copy
    os.replace(part, dst)

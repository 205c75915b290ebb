"""Where a succeeded step's outputs are saved besides its own directory.

* ``save=[S3Artifact(key=...)]`` on a template's output artifact: stored at the key in the
  selected storage, in the form Argo's executor gives it (saveArtifact in
  workflow/executor/executor.go, v3.7.18): with ``archive`` tar (the default) one ``.tgz``
  object holding the file, or the directory under its base name; with ``archive=None`` the
  file, or the directory's files under ``key/``. The key is templated as on Argo
  (``{{inputs.parameters.x}}``, ``{{workflow.name}}``, ``{{pod.name}}``).
* ``.pvc()`` (a shared volume): the run's ``volumes/<name>/`` directory stands for the claim
  Argo mounts at ``/tmp/mnt/<name>``. A reader's input artifact is a link to
  ``volumes/<name>/<subpath>``, made before its script starts (dangling until the copy
  lands); a producer's output is copied there, under a temporary name first, so a reader
  never sees half of it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from typing import Any

from dflow.model.io import PVC
from dflow.model.saves import saved_key, volume_saves

from .layout import remove
from .leaf import Leaf
from .state import RunContext, workflow_scope
from .values import Result, StepError, render_text


def volume_path(ctx: RunContext, pvc: PVC) -> str:
    """Where ``pvc`` lives in this run."""
    return os.path.join(ctx.wf_dir, "volumes", pvc.name, pvc.subpath)


async def save_outputs(ctx: RunContext, leaf: Leaf, tmpl: Any, res: Result) -> None:
    """Save the succeeded step's outputs to their keys and volume paths."""
    for name, art in tmpl.outputs.artifacts.items():
        where = f"step '{leaf.display}': output artifact '{name}'"
        try:
            saved = saved_key(art, where)  # validation refused what it would refuse
        except ValueError as exc:
            raise StepError(str(exc)) from None
        src = res.arts.get(name)
        if saved is not None and src is not None:  # an optional output not produced: none
            scope = {
                "inputs": {"parameters": dict(leaf.params)},
                "workflow": workflow_scope(ctx),
                "pod": {"name": leaf.node.id},
            }
            key = render_text(saved, scope, f"{where} saved to a key")
            await asyncio.to_thread(_store, src, key, art.archive, f"{where} saved to a key")
    for name, pvc in volume_saves(leaf.step):
        src = res.arts.get(name)
        if src is not None:
            await asyncio.to_thread(_copy_in, src, volume_path(ctx, pvc))


def _store(src: str, key: str, archive: str | None, where: str) -> None:
    # imported here: storage is loaded by the runs that store something, not by every run
    from dflow.backends import get_storage_client
    from dflow.storage.api import resolved_archive
    from dflow.storage.archive import write_tgz
    from dflow.storage.errors import StorageError
    from dflow.storage.objects import upload_tree

    src = os.path.realpath(src)  # the output may be a link to the file a Python OP wrote
    try:
        client = get_storage_client()
        if resolved_archive(archive) == "tar":
            with tempfile.TemporaryDirectory() as tmp, client.open_write(key, spool_dir=tmp) as out:
                write_tgz(src, os.path.basename(src), out)
        elif os.path.isdir(src):
            upload_tree(client, src, key)
        else:
            client.upload(key, src)
    except StorageError as exc:  # Argo's wait container fails the step too
        raise StepError(f"{where} '{key}': {exc}") from exc


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

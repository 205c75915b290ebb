"""Artifacts passed through a shared volume (``OutputArtifact.pvc()``) on Argo.

Each claim name becomes a ``volumeClaimTemplates`` entry: Argo creates the PVC
``<workflow>-<name>`` when the workflow starts and adds it to the workflow's volumes under
``<name>`` (createPVCs in workflow/controller/operator.go, v3.7.18), so a template mounts it
by name. A step using one mounts it at ``/tmp/mnt/<name>``; its script gets

* for an input read from the volume, a link from the artifact's path to the volume path,
  made before the script (dangling until the producer's copy lands), and the artifact is
  not an Argo input;
* for an output saved with ``.pvc()``, a copy to the volume path when the script ends with
  status 0, under a temporary name first so a reader never sees half of it.

The local engine does the same with its run's ``volumes/<name>/`` directory.
"""

from __future__ import annotations

import re
from typing import Any

from dflow.model.io import PVC

from .pyheader import with_header
from .values import RenderError

MOUNT_ROOT = "/tmp/mnt"
_UNSAFE = re.compile(r"[\"'`$\\\n]")
_SHELLS = ("sh", "bash", "ash", "dash", "zsh", "ksh")


def mount_path(claim: str) -> str:
    return f"{MOUNT_ROOT}/{claim}"


def volume_mounts(claims: list[str]) -> list[dict[str, Any]]:
    return [{"name": c, "mountPath": mount_path(c)} for c in claims]


def claim_template(pvc: PVC) -> dict[str, Any]:
    """The ``volumeClaimTemplates`` entry of ``pvc``'s claim."""
    spec: dict[str, Any] = {
        "accessModes": list(pvc.access_modes),
        "resources": {"requests": {"storage": str(pvc.size)}},
    }
    if pvc.storage_class:
        spec["storageClassName"] = pvc.storage_class
    return {"metadata": {"name": pvc.name}, "spec": spec}


def _checked(where: str, *paths: str) -> None:
    for p in paths:
        if _UNSAFE.search(p):
            raise RenderError(
                f"{where}: path {p!r} of an artifact passed through a shared volume "
                "holds a quote, '$', '`', '\\' or a newline: rename it"
            )


def shell_script(
    source: str, reads: list[tuple[str, str]], saves: list[tuple[str, str]], where: str
) -> str:
    """``source`` (a shell script) with its volume links first and its copies on success;
    ``reads``/``saves`` are (artifact path, volume path) pairs."""
    _checked(where, *(p for pair in reads + saves for p in pair))
    lines = [
        f'mkdir -p "$(dirname "{path}")" && ln -sfn "{vol}" "{path}" || exit 1'
        for path, vol in reads
    ]
    if saves:
        copies = " && ".join(
            f'rm -rf "{vol}.part" && cp -r "{path}" "{vol}.part" && rm -rf "{vol}" '
            f'&& mv "{vol}.part" "{vol}"'
            for path, vol in saves
        )
        # a trap: however the script ends (``exit 0`` included), copy only on status 0
        lines.append(
            f"trap 'dflow_rc=$?; if [ $dflow_rc -eq 0 ]; then {{ {copies}; }} || dflow_rc=1; "
            "fi; exit $dflow_rc' EXIT"
        )
    return "\n".join(lines) + "\n" + source


_LINK = """\
for path, vol in {links!r}:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if os.path.lexists(path):
        os.remove(path)
    os.symlink(vol, path)
"""
_COPY = """\
for src, vol in {copies!r}:
    part = vol + ".part"
    os.makedirs(os.path.dirname(vol), exist_ok=True)
    for old in (part, vol):
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old)
        elif os.path.lexists(old):
            os.remove(old)
    if os.path.isdir(src):
        shutil.copytree(src, part, symlinks=True)
    else:
        shutil.copy2(src, part)
    os.replace(part, vol)
"""


def python_script(source: str, reads: list[tuple[str, str]], saves: list[tuple[str, str]]) -> str:
    """``source`` (a Python script) run by a header that makes the links first and the
    copies when it ends with status 0."""
    return with_header(
        source,
        _COPY.format(copies=saves) if saves else "pass",
        before=_LINK.format(links=reads) if reads else "",
        purpose="links from shared volumes first, copies to them if it ended with status 0",
    )


def with_volumes(tmpl: Any, source: str, reads: tuple, saves: tuple, success_tag: bool) -> str:
    """The script of ``tmpl`` with its volume links and copies; ``reads``/``saves`` are the
    variant's (artifact name, claim, subpath) triples."""
    where = f"template '{tmpl.name}'"
    vol = lambda claim, sub: f"{mount_path(claim)}/{sub}"  # noqa: E731
    links = [(tmpl.inputs.artifacts[n].path, vol(c, s)) for n, c, s in reads]
    copies = [(tmpl.outputs.artifacts[n].path, vol(c, s)) for n, c, s in saves]
    shell = (tmpl.command or ["sh"])[0].rsplit("/", 1)[-1]
    if success_tag:
        raise RenderError(
            f"{where}: continue_on_num_success/ratio and an artifact passed through a "
            "shared volume (.pvc()) cannot be combined on one step"
        )
    if shell.startswith("python"):
        return python_script(source, links, copies)
    if shell in _SHELLS:
        return shell_script(source, links, copies, where)
    raise RenderError(
        f"{where}: an artifact passed through a shared volume (.pvc()) needs a shell or a "
        f"Python script (command {tmpl.command!r})"
    )

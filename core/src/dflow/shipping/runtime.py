"""The pod runtime as a directory named ``dflow``: what travels with every Python OP.

The directory holds symbolic links to this installation's files of the modules listed in
:data:`dflow.runner.podimport.RUNTIME_MODULES` (so it is always current and costs nothing to
make); uploads and hashes follow the links. It is made once per installation and user under
dflow's temp dir (``DFLOW_TEMPDIR``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping

import dflow
from dflow.config import tempdir
from dflow.runner.podimport import RUNTIME_MODULES

_PACKAGE_DIR = os.path.dirname(os.path.abspath(dflow.__file__))


def module_file(name: str) -> str:
    """The path of runtime module ``name`` relative to the ``dflow`` package directory."""
    parts = name.split(".")[1:]
    if not parts:
        return "__init__.py"
    path = os.path.join(*parts)
    if os.path.isdir(os.path.join(_PACKAGE_DIR, path)):
        return os.path.join(path, "__init__.py")
    return path + ".py"


def runtime_files() -> dict[str, str]:
    """Relative path inside ``dflow/`` -> absolute path of the installed file."""
    files = {}
    for name in RUNTIME_MODULES:
        rel = module_file(name)
        source = os.path.join(_PACKAGE_DIR, rel)
        if not os.path.isfile(source):
            raise FileNotFoundError(f"dflow's pod runtime module {name} is missing ({source})")
        files[rel] = source
    return files


def link_tree(prefix: str, name: str, entries: Mapping[str, str]) -> str:
    """A directory ``<tempdir>/<prefix>-<hash>/<name>`` of symbolic links (relative path ->
    target), made once (atomically); its path."""
    digest = hashlib.sha256(repr(sorted(entries.items())).encode()).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    base = os.path.join(tempdir(), f"{prefix}-{uid}-{digest}")
    final = os.path.join(base, name)
    if os.path.isdir(final) and all(os.path.exists(os.path.join(final, r)) for r in entries):
        return final
    work = f"{base}.{os.getpid()}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    for rel, target in entries.items():
        link = os.path.join(work, name, rel)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(target, link)
    shutil.rmtree(base, ignore_errors=True)  # an incomplete one (a target was removed)
    try:
        os.replace(work, base)
    except OSError:  # another process made it meanwhile
        shutil.rmtree(work, ignore_errors=True)
    return final


def runtime_dir() -> str:
    """The ``dflow`` directory holding only the pod runtime (see the module docstring)."""
    return link_tree("dflow-runtime", "dflow", runtime_files())


#: where a job's working directory holds the pod runtime (:func:`stage_runtime`)
JOB_PACKAGES = os.path.join("tmp", "dflow_packages")


def stage_runtime(workdir: str) -> str:
    """Copy the pod runtime into ``<workdir>/tmp/dflow_packages/dflow`` for an HPC job (hard
    links where possible, real files: the job may run on another host); the directory to put
    first on the job's ``PYTHONPATH``, relative to ``workdir``. A remote ``python3`` of 3.7+
    then needs nothing installed to run ``python -m dflow.runner``."""
    dest = os.path.join(workdir, JOB_PACKAGES)
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(runtime_dir(), os.path.join(dest, "dflow"), copy_function=_link_or_copy)
    return JOB_PACKAGES


def main_op_args(op_type: type) -> list[str] | None:
    """For an OP of ``__main__``: the runner's ``--op-file`` arguments naming the selection
    of its code (:mod:`dflow.shipping.mainsource`), saved under dflow's temp dir; else None."""
    if op_type.__module__ != "__main__":
        return None
    from .mainsource import main_source

    path = main_source(op_type).write(os.path.join(tempdir(), "dflow-main-sources"))
    return ["--op-file", f"{path}:{op_type.__qualname__}"]


def _link_or_copy(src: str, dst: str) -> None:
    # a hard link where it can (a fan-out stages the runtime once per job), else a copy
    try:
        os.link(os.path.realpath(src), dst)
    except OSError:
        shutil.copy2(src, dst)

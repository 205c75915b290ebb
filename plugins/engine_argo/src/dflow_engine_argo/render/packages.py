"""Which local Python code a Python OP needs in its container, and its content-hash key.

One input artifact, ``dflow_python_packages``, carries it; each path below lands at its top
level, and the container script puts the artifact first on ``sys.path``:

* ``dflow/``: the pod runtime (:mod:`dflow.shipping.runtime`, Python 3.7+, standard library
  only), always; with ``upload_dflow=True`` (the default) the client's whole ``dflow`` instead;
* ``dflow_deps/`` (``upload_dflow=True`` only): dflow's pure-Python dependencies, which the
  script appends to the END of ``sys.path``: the image's own versions win, ours fill gaps (a
  shipped typing_extensions must not shadow the one an image's pydantic needs);
* the OP's module (:func:`op_location`), or for an OP of ``__main__`` (a script, a notebook)
  the selection of its code made by :mod:`dflow.shipping.mainsource`; and ``python_packages``.

Our ``dflow`` comes first, so it shadows a dflow installed in the image (pydflow). Rendering
only computes the key (a hash of the files' contents, so the same code maps to the same key)
and the local paths; the engine uploads ``{key: paths}`` at submit time, following symbolic
links (the runtime and deps directories are trees of links).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from dflow.runner.locate import module_path, named_otherwise
from dflow.storage.archive import write_tgz_members

#: dflow's pure-Python dependencies, shipped in ``dflow_deps/`` with ``upload_dflow=True``
DEPENDENCIES = (
    "jsonpickle", "attr", "attrs", "cattrs", "pluggy", "typeguard", "typing_extensions", "yaml",
)  # fmt: skip
DEPS_DIR = "dflow_deps"
_SKIP_DIRS = {"__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_cache: dict[str, tuple[tuple, str]] = {}


#: not shipped: bytecode, and compiled extensions (built for the client's Python, useless in
#: an image of another one: PyYAML's 2.7 MB _yaml falls back to pure Python there)
_SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd")


def shipped_files(path: str) -> list[str]:
    """The files of ``path`` (a file or a directory, links followed) that are shipped."""
    return [full for full, is_dir in _shipped(path) if not is_dir]


def _shipped(path: str) -> Iterator[tuple[str, bool]]:
    """``path``'s shipped entries in archive order, (path, whether a directory): each
    directory (``path`` itself included) before its files and its subdirectories."""
    if os.path.isfile(path):
        yield path, False
        return
    for root, dirs, files in os.walk(path, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        yield root, True
        for f in sorted(files):
            if not f.endswith(_SKIP_SUFFIXES):
                yield os.path.join(root, f), False


def write_packages(paths: Iterable[str], dest: IO[bytes], top: str) -> None:
    """Write ``paths`` to ``dest`` as one gzipped tar: a directory ``top`` holding each path
    (its shipped files, links followed) at its top level.

    Argo's executor auto-detects a tarball input artifact and untars it; an archive of a
    single top-level entry becomes the artifact's path itself (``unpack`` in
    workflow/executor/executor.go, v3.7.18 and v4.1.2), so the container finds
    ``<path>/dflow/...`` whatever the number of paths. Directory entries precede their files
    (older executors do not create missing parents).
    """
    members: list[tuple[str | None, str]] = [(None, top)]
    for path in paths:
        base = os.path.dirname(os.path.normpath(path))
        members += [(full, f"{top}/{os.path.relpath(full, base)}") for full, _ in _shipped(path)]
    # level 6, as tarfile's default: uploaded once per content, fetched by every pod
    write_tgz_members(members, dest, level=6)


def content_hash(path: str) -> str:
    """sha256 of the names and contents of the files under ``path`` (cached by mtime/size)."""
    files = shipped_files(path)
    stamp = tuple((f, st.st_mtime_ns, st.st_size) for f in files for st in [os.stat(f)])
    hit = _cache.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    h = hashlib.sha256()
    base = os.path.dirname(path.rstrip("/"))
    for f in files:
        h.update(os.path.relpath(f, base).encode() + b"\0")
        with open(f, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    digest = h.hexdigest()
    _cache[path] = (stamp, digest)
    return digest


def packages_key(paths: Iterable[str], prefix: str = "") -> str:
    """The storage key of the artifact holding ``paths``: ``<prefix>dflow/packages/<hash>.tgz``
    (one object: see :func:`write_packages`)."""
    h = hashlib.sha256()
    for p in sorted(set(paths), key=os.path.basename):
        h.update(os.path.basename(p.rstrip("/")).encode() + b"\0" + content_hash(p).encode())
    return f"{prefix}dflow/packages/{h.hexdigest()[:32]}.tgz"


def _in_site_packages(path: str) -> bool:
    parts = path.replace("\\", "/").split("/")
    return "site-packages" in parts or "dist-packages" in parts


def op_location(op_type: type) -> tuple[str, str, str | None]:
    """How the container finds an OP: (``"--op"`` or ``"--op-file"``, its spec, the local
    path to ship or None).

    An OP of an importable module is imported by name, and that module's top-level package
    (or file) is shipped unless it is installed in site-packages (the image must have it).
    An OP of ``__main__`` (a script or a notebook) is loaded from the selection of its code
    (:mod:`dflow.shipping.mainsource`), never running the script's workflow code; an OP of
    a file imported under another name, from that file.
    """
    module = op_type.__module__
    qualname = op_type.__qualname__
    if "<locals>" in qualname:
        raise ValueError(
            f"OP {qualname} is defined inside a function: the Argo container cannot import it; "
            "define it at module level"
        )
    top = module.split(".")[0]
    top_path = module_path(top) if module != "__main__" else None
    if top_path is not None and not named_otherwise(module):
        return "--op", f"{module}:{qualname}", None if _in_site_packages(top_path) else top_path
    if module == "__main__":
        from dflow.config import tempdir
        from dflow.shipping.mainsource import main_source

        source = main_source(op_type)
        path = source.write(os.path.join(tempdir(), "dflow-main-sources"))
        return "--op-file", f"{source.file_name}:{qualname}", path
    mod = sys.modules.get(module)
    file = getattr(mod, "__file__", None)
    if not file or not file.endswith(".py"):
        raise ValueError(
            f"OP {qualname} of module '{module}' has no source file: the Argo container cannot "
            "load it; put it in an importable module or in the image"
        )
    return "--op-file", f"{os.path.basename(file)}:{qualname}", os.path.abspath(file)


def dflow_paths(upload_dflow: bool) -> list[str]:
    """What a Python OP ships of dflow: the pod runtime, or the whole dflow and its
    dependencies (see the module docstring)."""
    from dflow.shipping.runtime import link_tree, runtime_dir

    if not upload_dflow:
        return [runtime_dir()]
    deps = {}
    for name in DEPENDENCIES:
        path = module_path(name)
        if path is not None:
            deps[os.path.basename(path)] = path
    dflow_dir = module_path("dflow")
    assert dflow_dir is not None
    return [dflow_dir, link_tree("dflow-deps", DEPS_DIR, deps)]


def check_unique(paths: list[str], where: Any) -> None:
    seen: dict[str, str] = {}
    for p in paths:
        base = os.path.basename(p.rstrip("/"))
        if base in seen and seen[base] != p:
            raise ValueError(
                f"{where}: python packages {seen[base]} and {p} have the same name '{base}' "
                "and would overwrite each other in the container; rename one"
            )
        seen[base] = p

"""pydflow's ``dflow.utils``: artifact and storage helpers, file helpers, ``run_command``.

The artifact functions are dflow's own (:mod:`dflow.storage`); the rest are small helpers
scripts imported from here, with pydflow's signatures and return shapes. pydflow's ``MinioClient``
comes from the ``dflow-storage-minio`` plugin.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import importlib
import inspect
import logging
import os
import pkgutil
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path, PosixPath, WindowsPath
from typing import Any

from ._compat import module_getattr, plugin_names
from .catalog import EMPTY_DIR_MARKER, catalog_dir_name
from .model.op_template import randstr
from .storage import (
    StorageClient,
    copy_artifact,
    copy_s3,
    download_artifact,
    download_s3,
    path_list_of_artifact,
    path_object_of_artifact,
    upload_artifact,
    upload_s3,
)
from .storage.api import catalog_of_artifact

__all__ = [
    "ArtifactDict",
    "ArtifactList",
    "ArtifactPosixPath",
    "ArtifactSet",
    "ArtifactStr",
    "ArtifactWindowsPath",
    "CommandError",
    "ProcessPoolExecutor",
    "StorageClient",
    "TempDir",
    "Variable",
    "append_item",
    "artifact_classes",
    "assemble_path_object",
    "assemble_path_object_from_catalog",
    "catalog_of_artifact",
    "catalog_of_local_artifact",
    "convert_dflow_list",
    "copy_artifact",
    "copy_file",
    "copy_s3",
    "dict2list",
    "download_artifact",
    "download_s3",
    "evalable_repr",
    "expand",
    "find_subclass",
    "flatten",
    "force_link",
    "force_move",
    "get_key",
    "get_md5",
    "import_func",
    "link",
    "linktree",
    "merge_dir",
    "path_list_of_artifact",
    "path_object_of_artifact",
    "randstr",
    "remove_empty_dir_tag",
    "run_command",
    "set_directory",
    "set_key",
    "subclass_or_none",
    "try_link",
    "upload_artifact",
    "upload_s3",
]

log = logging.getLogger(__name__)

# MinioClient lives in the storage plugin (boto3): imported on first use, with an install hint
__getattr__ = module_getattr(__name__, plugins=plugin_names("dflow_storage_minio"))


class TempDir(tempfile.TemporaryDirectory):
    """A temporary directory whose clean-up never raises."""

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            super().cleanup()


# -- artifact keys and catalogs ---------------------------------------------------------------


def _repo_prefix() -> str:
    from .config import s3_config

    return str(s3_config.get("repo_prefix") or "")


def get_key(artifact: Any, raise_error: bool = True) -> str | None:
    """The storage key of an artifact (``S3Artifact``, a step output's ``s3``/``oss`` dict)."""
    for kind in ("s3", "oss"):
        loc = artifact.get(kind) if isinstance(artifact, dict) else getattr(artifact, kind, None)
        key = loc.get("key") if isinstance(loc, dict) else getattr(loc, "key", None)
        if key is not None:
            prefix = _repo_prefix() if kind == "oss" else ""
            return key[len(prefix) :] if prefix and key.startswith(prefix) else key
    key = artifact.get("key") if isinstance(artifact, dict) else getattr(artifact, "key", None)
    if key is None and raise_error:
        raise FileNotFoundError(f"the artifact {artifact!r:.80} has no key in the storage")
    return key


def set_key(artifact: Any, key: str) -> None:
    """Point an artifact at ``key`` (the inverse of :func:`get_key`)."""
    for kind in ("s3", "oss"):
        loc = artifact.get(kind) if isinstance(artifact, dict) else getattr(artifact, kind, None)
        if loc is None or (not isinstance(loc, dict) and not hasattr(loc, "key")):
            continue
        if kind == "oss" and not key.startswith(_repo_prefix()):
            key = _repo_prefix() + key
        if isinstance(loc, dict):
            loc["key"] = key
        else:
            loc.key = key
        return
    if isinstance(artifact, dict):
        artifact["key"] = key
    elif hasattr(artifact, "key"):
        artifact.key = key


def append_item(catalog: list[dict], item: dict) -> None:
    """Add a catalog item unless present; an item of the same order fills in a missing path."""
    for existing in catalog:
        if existing == item:
            return
        if existing["order"] == item["order"]:
            if existing["dflow_list_item"] is None:
                existing["dflow_list_item"] = item["dflow_list_item"]
                return
            if item["dflow_list_item"] is None:
                return
    catalog.append(item)


def catalog_of_local_artifact(art_path: str | os.PathLike[str], remove: bool = False) -> list:
    """The catalog items of a local artifact directory (``remove``: delete its catalog)."""
    import json

    cat_dir = os.path.join(art_path, catalog_dir_name())
    catalog: list[dict] = []
    if not os.path.isdir(cat_dir):
        return catalog
    for name in sorted(os.listdir(cat_dir)):
        with open(os.path.join(cat_dir, name), encoding="utf-8") as f:
            for item in json.load(f)["path_list"]:
                append_item(catalog, item)
    if remove:
        shutil.rmtree(cat_dir)
    return catalog


def convert_dflow_list(dflow_list: list[dict]) -> list:
    """The paths of catalog items in ``order`` (sorts ``dflow_list`` in place)."""
    dflow_list.sort(key=lambda item: item["order"])
    return [item["dflow_list_item"] for item in dflow_list]


def _join(root: Any, rel: Any) -> Any:
    return os.path.join(root, rel) if root is not None and rel is not None else rel


def assemble_path_object_from_catalog(catalog: list[dict], art_path: Any = None) -> Any:
    """The path object of catalog items: a list for int orders, else a nested dict/list."""
    if not catalog:
        return catalog
    if all(isinstance(item["order"], int) for item in catalog):
        return [_join(art_path, p) for p in convert_dflow_list(catalog)]
    return expand({item["order"]: _join(art_path, item["dflow_list_item"]) for item in catalog})


def assemble_path_object(art_path: str | os.PathLike[str], remove: bool = False) -> Any:
    """The path object of a local artifact directory, from its catalog."""
    catalog = catalog_of_local_artifact(art_path, remove=remove)
    return assemble_path_object_from_catalog(catalog, art_path=art_path)


def remove_empty_dir_tag(path: str | os.PathLike[str]) -> None:
    """Delete the ``.empty_dir`` markers below ``path``."""
    for dirpath, _, files in os.walk(path, followlinks=True):
        if EMPTY_DIR_MARKER in files:
            os.remove(os.path.join(dirpath, EMPTY_DIR_MARKER))


# -- nested containers --------------------------------------------------------------------------


def flatten(d: list | dict) -> dict:
    """A nested dict/list as ``{"a.0.b": leaf, ...}`` (dotted keys, list indexes as digits)."""
    flat: dict[str, Any] = {}

    def walk(obj: Any, prefix: str) -> None:
        pairs = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for k, v in pairs:
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, list | dict):
                walk(v, key)
            else:
                flat[key] = v

    walk(d, "")
    return flat


def dict2list(d: dict) -> list | dict:
    """Turn dicts keyed by integers (at any depth) into lists, gaps filled with None."""
    for k, v in d.items():
        if isinstance(v, dict):
            d[k] = dict2list(v)
    try:
        indexes = {int(k): v for k, v in d.items()}
    except (TypeError, ValueError):
        return d
    out: list = [None] * (max(indexes) + 1 if indexes else 0)
    for i, v in indexes.items():
        if i < 0:
            return d
        out[i] = v
    return out


def expand(d: dict) -> list | dict:
    """The inverse of :func:`flatten`: dotted keys become nesting, digit keys list positions."""
    tree: dict = {}
    for k, v in d.items():
        *parents, last = str(k).split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = v
    return dict2list(tree)


# -- files --------------------------------------------------------------------------------------


def get_md5(f: str | os.PathLike[str]) -> str:
    """Hex MD5 of a local file."""
    digest = hashlib.md5()
    with open(f, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def force_move(src: str, dst: str) -> None:
    """Move ``src`` to ``dst``, replacing a different file there."""
    if os.path.exists(dst):
        if os.path.samefile(src, dst):
            return
        os.remove(dst)
    shutil.move(src, dst)


def merge_dir(src: str, dst: str, func: Callable[[str, str], Any] = force_move) -> None:
    """Put every file of the tree ``src`` into ``dst`` with ``func(src_file, dst_file)``."""
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s):
            if os.path.isfile(d):
                os.remove(d)
            os.makedirs(d, exist_ok=True)
            merge_dir(s, d, func)
        elif os.path.isfile(s):
            if os.path.isdir(d):
                shutil.rmtree(d)
            func(s, d)


def link(src: str, dst: str) -> None:
    """Hard-link ``dst`` to ``src`` (to the file a symlink points at)."""
    os.link(os.path.realpath(src) if os.path.islink(src) else src, dst)


def try_link(src: str, dst: str) -> None:
    """Hard-link ``dst`` to ``src``, or copy when linking is impossible (another device...)."""
    try:
        if os.path.isfile(dst):
            os.remove(dst)
        link(src, dst)
    except OSError:
        shutil.copy(src, dst)


def copy_file(src: str, dst: str, func: Callable[[str, str], Any] = try_link) -> None:
    """Copy a file or a tree to ``dst`` (replacing it), each file placed by ``func``."""
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    if os.path.isdir(src):
        if os.path.islink(dst) or os.path.isfile(dst):
            os.remove(dst)
        elif os.path.isdir(dst):
            shutil.rmtree(dst)
        shutil.copytree(src, dst, copy_function=func)
    elif os.path.isfile(src):
        func(src, dst)
    else:
        raise FileNotFoundError(f"copy_file: {src} does not exist")


def force_link(src: str, dst: str, func: Callable[[str, str], Any] = os.symlink) -> None:
    """Link ``dst`` to ``src`` with ``func``, replacing a link there (never the file itself)."""
    if os.path.exists(dst) and os.path.samefile(src, dst):
        return
    if os.path.islink(dst):
        os.remove(dst)
    func(src, dst)


def linktree(src: str, dst: str, func: Callable[[str, str], Any] = os.symlink) -> None:
    """Mirror the tree ``src`` into ``dst`` as links made by ``func``."""
    merge_dir(src, dst, partial(force_link, func=func))


@contextlib.contextmanager
def set_directory(dirname: str | os.PathLike[str], mkdir: bool = False) -> Iterator[Path]:
    """Work in ``dirname`` inside the block (made first with ``mkdir``); yields its path."""
    previous = os.getcwd()
    path = Path(dirname).resolve()
    if mkdir:
        path.mkdir(parents=True, exist_ok=True)
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(previous)


# -- commands -----------------------------------------------------------------------------------


class CommandError(AssertionError):
    """:func:`run_command` failed (an ``AssertionError``, as pydflow raised)."""


def run_command(
    cmd: list[Any] | str,
    raise_error: bool = True,
    input: str | None = None,
    try_bash: bool = False,
    login: bool = True,
    interactive: bool = True,
    shell: bool = False,
    print_oe: bool = False,
    stdout: Any = None,
    stderr: Any = None,
    **kwargs: Any,
) -> tuple[int, str, str]:
    """Run a command; return ``(exit code, stdout text, stderr text)``.

    A string is split into words unless ``shell``; ``try_bash`` runs it through ``bash -lc``
    (``-c`` unless both ``login`` and ``interactive``) when bash exists, else ``sh``.
    ``print_oe`` (or a ``stdout``/``stderr`` stream) echoes the output while it runs.
    ``raise_error``: a non-zero exit raises :class:`CommandError` naming the command.
    ``kwargs`` go to :class:`subprocess.Popen`.
    """
    if print_oe:
        stdout, stderr = sys.stdout, sys.stderr
    args: list[str] = (
        [cmd]
        if isinstance(cmd, str) and shell
        else (cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd])
    )
    if try_bash:
        flag = "-lc" if login and interactive else "-c"
        line = " ".join(args)
        args = [
            f"if command -v bash >/dev/null 2>&1; then bash {flag} {shlex.quote(line)}; "
            f"else {line}; fi"
        ]
        shell = True
    encoding = sys.stdout.encoding or "utf-8"
    with subprocess.Popen(
        args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        shell=shell,
        **kwargs,
    ) as proc:
        if stdout is None and stderr is None:
            raw_out, raw_err = proc.communicate(input.encode(encoding) if input else None)
            out, err = raw_out.decode(encoding), raw_err.decode(encoding)
        else:
            out, err = _tee(proc, input, stdout, stderr, encoding)
        code = proc.wait()
    if raise_error and code != 0:
        raise CommandError(f"command {args} failed with exit code {code}:\n{err}")
    return code, out, err


def _tee(
    proc: subprocess.Popen,
    input: str | None,
    stdout: Any,
    stderr: Any,
    encoding: str,
) -> tuple[str, str]:
    """Read both pipes line by line, echoing each line to its stream as it arrives."""
    import threading

    if input is not None:
        proc.stdin.write(input.encode(encoding))  # type: ignore[union-attr]
    proc.stdin.close()  # type: ignore[union-attr]
    chunks: dict[str, list[str]] = {"out": [], "err": []}

    def pump(pipe: Any, sink: Any, name: str) -> None:
        for raw in iter(pipe.readline, b""):
            line = raw.decode(encoding)
            chunks[name].append(line)
            if sink is not None:
                sink.write(line)
                sink.flush()

    threads = [
        threading.Thread(target=pump, args=(proc.stdout, stdout, "out")),
        threading.Thread(target=pump, args=(proc.stderr, stderr, "err")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return "".join(chunks["out"]), "".join(chunks["err"])


# -- classes and code -----------------------------------------------------------------------------


def import_func(path: str) -> Any:
    """The object a dotted path names (``"package.module.Name"``)."""
    module, _, name = path.replace(":", ".").rpartition(".")
    if not module:
        raise ImportError(f"import_func({path!r}): expected 'package.module.Name'")
    return getattr(importlib.import_module(module), name)


def subclass_or_none(m: Any, cls: type) -> type | None:
    """``m`` (a class) or its class (an instance) when it is a proper subclass of ``cls``."""
    if inspect.isclass(m):
        return m if issubclass(m, cls) and m is not cls else None
    return type(m) if isinstance(m, cls) and type(m) is not cls else None


def find_subclass(pkg: Any, cls: type) -> list[type]:
    """Proper subclasses of ``cls`` in module ``pkg`` and, for a package, its submodules."""
    found: list[type] = []

    def scan(module: Any) -> None:
        for _, member in inspect.getmembers(module):
            sub = subclass_or_none(member, cls)
            if sub is not None and sub not in found:
                found.append(sub)

    scan(pkg)
    for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), pkg.__name__ + "."):
        try:
            scan(importlib.import_module(info.name))
        except Exception as exc:  # one broken submodule must not hide the others
            log.warning("find_subclass: cannot inspect %s: %s", info.name, exc)
    return found


class Variable:
    """A Python expression kept as text by :func:`evalable_repr`."""

    def __init__(self, expr: str) -> None:
        self.expr = expr

    def evalable_repr(self, imports: set) -> str:
        return self.expr


def evalable_repr(obj: Any, imports: set) -> str:
    """Python source that evaluates to ``obj``; adds the imports it needs to ``imports``."""
    if obj is None or isinstance(obj, str | int | float | bool):
        return repr(obj)
    if isinstance(obj, list):
        return "[" + ", ".join(evalable_repr(v, imports) for v in obj) + "]"
    if isinstance(obj, set):
        return "{" + ", ".join(evalable_repr(v, imports) for v in obj) + "}" if obj else "set()"
    if isinstance(obj, dict):
        return (
            "{"
            + ", ".join(
                f"{evalable_repr(k, imports)}: {evalable_repr(v, imports)}" for k, v in obj.items()
            )
            + "}"
        )
    if hasattr(obj, "evalable_repr"):
        return obj.evalable_repr(imports)
    import jsonpickle

    imports.add((None, "jsonpickle"))
    return f"jsonpickle.loads({jsonpickle.dumps(obj, keys=True)!r}, keys=True)"


class ProcessPoolExecutor(concurrent.futures.ProcessPoolExecutor):
    """A process pool that does not wait for its workers when the ``with`` block ends."""

    def __exit__(self, *exc: Any) -> None:
        self.shutdown(wait=False)


# -- path types of artifacts ---------------------------------------------------------------------


class ArtifactStr(str):
    """A ``str`` path of an input artifact."""


class ArtifactPosixPath(PosixPath):
    """A ``Path`` of an input artifact."""


class ArtifactWindowsPath(WindowsPath):
    """A ``Path`` of an input artifact (Windows)."""


class ArtifactList(list):
    """A list of paths of an input artifact."""


class ArtifactSet(set):
    """A set of paths of an input artifact."""


class ArtifactDict(dict):
    """A dict of paths of an input artifact."""


artifact_classes: dict[type, type] = {
    str: ArtifactStr,
    PosixPath: ArtifactPosixPath,
    WindowsPath: ArtifactWindowsPath,
    list: ArtifactList,
    set: ArtifactSet,
    dict: ArtifactDict,
}

"""Write an OP's outputs into an outputs directory.

``<outputs>/parameters/<name>`` gets the parameter text; ``<outputs>/artifacts/<name>/`` gets
copies of the returned files and dirs plus a catalog saying which path object they form.
Where a returned path lands inside the artifact:

* under an input artifact: its path below that artifact's root;
* under the working directory: its path relative to the working directory;
* anywhere else: its absolute path without the leading ``/``.

A file the OP made in its working directory is hard-linked into the artifact, as pydflow does
(one system call, no data written; the step is over, so nothing writes it again), and copied
where a link cannot be made (another file system) or where the file is not the step's own (an
input artifact, a path outside the working directory, a symbolic link), as pydflow copies them.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import catalog
from ..fileio import write_file
from ..python.errors import SignatureError
from ..python.opio import Artifact, HDF5Datasets, artifact_has_hdf5, sign_type
from ..serialization import dump_value


def _is_relative_to(path: Path, base: Path) -> bool:
    """``path.is_relative_to(base)`` (3.9+) for absolute paths, as a prefix of their text:
    a third of the time of ``relative_to`` and its exception (three calls per output)."""
    text, top = str(path), str(base)
    return text == top or text.startswith(top if top.endswith("/") else top + "/")


def _real(path: Path) -> Path:
    """``path.resolve()`` in three system calls: the kernel's own name of the opened path (a
    resolve is one ``lstat`` per component, twice for a link into another step's dir)."""
    try:
        fd = os.open(path, os.O_PATH)  # follows the links; Linux only
    except (OSError, AttributeError):
        return path.resolve()
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc
        return path.resolve()
    finally:
        os.close(fd)
    return Path(real) if real.startswith("/") else path.resolve()


@dataclasses.dataclass
class OutputContext:
    """Where outputs go and how returned paths map to places inside artifacts."""

    op_name: str
    outputs_dir: Path
    workdir: Path
    input_roots: Sequence[Path] = ()
    _real_roots: dict = dataclasses.field(default_factory=dict, repr=False)
    #: once :meth:`track` is called, every file written under ``outputs_dir``: its relative
    #: path -> (its path, its bytes when known), so the step cache stores the outputs without
    #: listing their tree again; None when not tracking, or once something not listed here
    #: was written (a directory tree, HDF5 datasets, an empty artifact): the cache lists it
    written: dict[str, tuple[str, bytes | None]] | None = None

    def track(self) -> None:
        """List what is written from now on: only into an absent or empty ``outputs_dir``
        (what is already there would not be listed)."""
        try:
            with os.scandir(self.outputs_dir) as listing:
                empty = next(listing, None) is None
        except FileNotFoundError:
            empty = True
        except OSError:
            empty = False
        self.written = {} if empty else None

    def wrote(self, path: str, data: bytes | None = None) -> None:
        """The file at ``path`` (under ``outputs_dir``) was written (holding ``data``)."""
        if self.written is None:
            return
        top = os.fspath(self.outputs_dir) + os.sep
        if path.startswith(top):
            self.written[path[len(top) :].replace(os.sep, "/")] = (path, data)
        else:  # not under the outputs (a path the OP gave that is there already)
            self.written = None

    def wrote_unlisted(self) -> None:
        """Something not listed file by file was written: the listing is incomplete."""
        self.written = None

    @property
    def parameters_dir(self) -> str:
        return os.path.join(self.outputs_dir, "parameters")

    def rel_path(self, path: Path) -> str:
        """Where ``path`` (absolute) lands inside an output artifact."""
        return self.place_of(path)[0]

    def place_of(self, path: Path) -> tuple[str, bool]:
        """:meth:`rel_path`, and whether ``path`` is the step's own (under its working
        directory, not under an input artifact)."""
        for root in self.input_roots:
            real = self._real_roots.get(root)
            for base in (root, real):
                if base is None:  # resolved on first need, once per step
                    base = self._real_roots[root] = _real(root)
                if path == base:
                    return base.name, False
                if _is_relative_to(path, base):
                    return path.relative_to(base).as_posix(), False
        if _is_relative_to(path, self.workdir):
            return path.relative_to(self.workdir).as_posix() or ".", True
        return path.as_posix().lstrip("/"), False


def _map_leaves(obj: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(obj, Mapping):
        return {k: _map_leaves(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        seq = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [_map_leaves(v, fn) for v in seq]
    return None if obj is None else fn(obj)


def _copy(src: Path, dst: Path, own: bool = False, lst: os.stat_result | None = None) -> bool:
    """Copy ``src`` (a file or a dir) to ``dst`` (``own``: hard-link the step's own regular
    files); True if ``src`` is a dir. ``lst``: ``src``'s ``lstat`` when the caller has it (a
    regular file then needs no other look)."""
    if src == dst:
        return os.path.isdir(src)
    regular = lst is not None and stat.S_ISREG(lst.st_mode)
    if not regular:
        try:
            st = os.stat(src)
        except FileNotFoundError:  # a dangling link: the copy below says so
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            dst.parent.mkdir(parents=True, exist_ok=True)
            _merge_tree(src, dst, own)
            return True
    link = False if regular else None
    try:
        _put_file(str(src), str(dst), own, link)
    except FileNotFoundError:  # its dir is not there yet
        dst.parent.mkdir(parents=True, exist_ok=True)
        _put_file(str(src), str(dst), own, link)
    return False


def _put_file(src: str, dst: str, own: bool, link: bool | None = None) -> None:
    """``link``: whether ``src`` is a symbolic link (None: not known)."""
    if own and not (os.path.islink(src) if link is None else link):
        try:
            os.link(src, dst)
            return
        except FileExistsError:
            os.unlink(dst)
            return _put_file(src, dst, own, link)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise
            # another file system, or no hard links there: copy
    shutil.copy(src, dst)


def _merge_tree(src: Path, dst: Path, own: bool = False) -> None:
    """``shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)`` (that flag is 3.8+)."""
    if not os.path.isdir(dst):
        shutil.copytree(src, dst, symlinks=True, copy_function=lambda s, d: _put_file(s, d, own))
        return
    for entry in os.scandir(src):
        target = dst / entry.name
        if entry.is_dir(follow_symlinks=False):
            _merge_tree(Path(entry.path), target, own)
        elif entry.is_symlink():
            if os.path.lexists(target):
                os.unlink(target)
            os.symlink(os.readlink(entry.path), target)
        else:
            if os.path.lexists(target):
                os.unlink(target)
            _put_file(entry.path, str(target), own)


def write_artifact(
    ctx: OutputContext,
    name: str,
    sign: Artifact,
    value: Any,
    cwd: Path,
    order: Any = None,
    strict: bool = True,
) -> None:
    """Copy the paths of ``value`` (relative ones are relative to ``cwd``) into the output
    artifact ``name`` and record them in a catalog. ``order`` tags the items of a slice."""
    root = ctx.outputs_dir / "artifacts" / name
    root.mkdir(parents=True, exist_ok=True)
    if value is None:
        ctx.wrote_unlisted()  # an empty dir
        return
    if _as_hdf5(sign.type, value):
        from .hdf5 import write_hdf5

        ctx.wrote_unlisted()
        write_hdf5(root, value, order)
        return

    def place(p: Any) -> str:
        src = Path(p)
        src = src if src.is_absolute() else cwd / src
        src = Path(os.path.normpath(src))
        try:
            lst: os.stat_result | None = os.lstat(src)
        except OSError:
            lst = None
        if lst is None:
            if strict:
                raise SignatureError(
                    f"OP {ctx.op_name}: output artifact '{name}': path '{p}' does not exist "
                    f"(relative paths are relative to the working directory {cwd})"
                )
            return ""
        rel, own = ctx.place_of(src)
        dst = root / rel if rel != "." else root
        if _copy(src, dst, own, lst):
            dirs_placed.append(rel)
            ctx.wrote_unlisted()  # a tree
        else:
            ctx.wrote(str(dst))
        return rel

    dirs_placed: list[str] = []
    rel_obj = _map_leaves(value, place)
    if not strict:
        rel_obj = _map_leaves(rel_obj, lambda r: r or None)
    items = catalog.items_for(rel_obj, Path("."), order=order)
    if order is not None:
        for it in items:
            # a slice's items carry the slice index, so stacked slices stay in order
            if not isinstance(it.get("order"), str):
                it["order"] = order
    if items:
        ctx.wrote(str(catalog.write_catalog(root, items)))
    else:
        ctx.wrote_unlisted()  # an empty dir, or its marker
    # only a copied dir (or an artifact of no paths) can leave an empty dir behind
    if (dirs_placed or not items) and catalog.detect_empty_dir():
        catalog.mark_empty_dirs(root)


def _as_hdf5(tp: Any, value: Any) -> bool:
    """Whether a returned value is stored as HDF5 datasets rather than copied as paths."""
    if tp is HDF5Datasets:
        return not isinstance(value, (str, os.PathLike))
    return artifact_has_hdf5(tp) and not _is_paths(value)


def _is_paths(value: Any) -> bool:
    if isinstance(value, (str, os.PathLike)):
        return True
    if isinstance(value, Mapping):
        return all(_is_paths(v) for v in value.values())
    if isinstance(value, (list, tuple, set)):
        return all(_is_paths(v) for v in value)
    return False


def _write_text(ctx: OutputContext, name: str, text: str) -> None:
    path = os.path.join(ctx.parameters_dir, name)
    data = text.encode()
    write_file(path, data)
    ctx.wrote(path, data)


def write_parameter(ctx: OutputContext, name: str, sign: Any, value: Any) -> None:
    text = dump_value(value, sign_type(sign))
    # Argo's wait container trims one trailing newline of an output parameter file
    # (workflow/executor/executor.go SaveParameters, strings.TrimSuffix, v3.7.18); every engine
    # reads the files by that rule, so one more keeps the value the OP returned ("a\n")
    _write_text(ctx, name, text + "\n" if text.endswith("\n") else text)


def write_stacked_parameter(ctx: OutputContext, name: str, pairs: list[tuple[Any, Any]]) -> None:
    """A sliced output parameter: ``[{"dflow_list_item": value, "order": index}, ...]``."""
    stacked = [{"dflow_list_item": v, "order": i} for i, v in pairs]
    _write_text(ctx, name, dump_value(stacked, list))


def write_outputs(
    ctx: OutputContext,
    sign: Mapping[str, Any],
    values: Mapping[str, Any],
    cwd: Path,
    strict: bool = True,
) -> None:
    """Write checked outputs (``strict=False``: best effort, for partial outputs on failure)."""
    for name, value in values.items():
        s = sign.get(name)
        if s is None:
            continue
        try:
            if isinstance(s, Artifact):
                write_artifact(ctx, name, s, value, cwd, strict=strict)
            else:
                write_parameter(ctx, name, s, value)
        except Exception:
            if strict:
                raise

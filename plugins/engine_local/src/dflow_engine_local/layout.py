"""pydflow's debug-mode on-disk layout of a workflow run, so users and scripts can look inside.

::

    <workdir>/<wf-id>/
        status  type  pid  children  children.lock  log.txt (detached runs)
        journal.db  runner.lock          # the engine's own state (journal = source of truth)
        outputs/parameters/<global name> -> <step-dir>/outputs/parameters/<name>
        outputs/artifacts/<global name>  -> <step-dir>/outputs/artifacts/<name>
        <step-dir>/                      # the step's key, or "<wf-id>-<step name>-<5 chars>"
            name  type  phase            # every step: Pod, Steps or DAG
            children  children.lock      # Steps / DAG steps: {"<order>": "<step-dir>"}
            inputs/parameters/<name>     inputs/parameters/.dflow/<name>  {"type": "int"}
            inputs/artifacts/<name> -> the artifact
            outputs/parameters/<name>    outputs/parameters/.dflow/<name>
            outputs/artifacts/<name>     outputs/artifacts/.dflow/<name>  {"globalName": ...}
            script  pid  log.txt  workdir/   # Pod steps; workdir is the step's cwd, below it
                                             # workdir/tmp the container's /tmp
        .groups/<loop-id>/               # a fan-out's shared inputs and stacked outputs
        .groups/.files/<digest>          # one copy of each small file many steps hold alike
                                         # (name, type, .dflow metadata, a worker's pid):
                                         # the step dirs' files are hard links to it
        .combined/<digest>/              # lists/dicts of artifacts given as one input
        .spare/                          # step subdirs made ahead (:class:`SpareDirs`),
                                         # gone when the run ends

Step dirs are flat whatever the nesting; ``children`` files hold the tree (order
``"<group>-<index>[-<item>]"`` in Steps, ``"<task>[-<item>]"`` in a DAG). Small mirror files
(``name``, ``type``, ``phase``, ``children``) are written off the critical path (:class:`Mirror`);
the journal, not these files, is the source of truth, and a resumed run rewrites them from it.

Container paths: a template path such as ``/tmp/inputs/artifacts/x`` or ``/data/in`` is mapped
to ``workdir/tmp/inputs/artifacts/x`` / ``workdir/data/in`` (see :func:`host_path`).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Protocol

from dflow import catalog


class Mirror(Protocol):
    """Where small step files are queued to be written off the hot path (:mod:`mirror`)."""

    def put(self, path: str, text: str) -> None: ...

    def write(self, path: str, text: str) -> None: ...

    def share(self, path: str, text: str) -> None: ...

    def write_like(self, path: str, text: str, source: str) -> None: ...

    def take_spare(self, kind: str, dest: str) -> bool: ...


#: the temporary name of the engine's writers (:func:`temp_path`): a killed run leaves the
#: one it was writing, and :func:`remove_stray_temps` finds it by this pattern
TEMP_NAME = re.compile(r"\.\d+(?:\.\d+)?\.tmp$")


def temp_path(path: str) -> str:
    """Where a writer of ``path`` puts it before renaming it into place: a name of this
    process and thread (the loop and the mirror's writer thread may write alike)."""
    return f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"


def write_text(path: str | os.PathLike, text: str, make_dirs: bool = True) -> None:
    """Write ``text`` to ``path`` atomically (parent dirs created unless ``make_dirs=False``)."""
    path = os.fspath(path)
    if make_dirs:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "w") as f:
            f.write(text)
    except OSError as exc:  # a full disk fails the write, not the open: name the file
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OSError(exc.errno, exc.strerror, path) from exc
    os.replace(tmp, path)


def overwrite(path: str, text: str) -> None:
    """Replace a small mirror file in place: write over it, then cut it to length.

    Cheaper than write-and-rename (a rename per phase change dominated wide fan-outs), and a
    reader never sees an empty file; the journal, not these files, is the source of truth.
    """
    data = text.encode()
    fd, size = _open_own(path)
    try:
        os.pwrite(fd, data, 0)
        if size > len(data):
            os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def _open_own(path: str) -> tuple[int, int]:
    """Open ``path`` to write it in place (created if new, not truncated): its descriptor and
    its size. A hard link to a shared copy (:func:`link_shared`) is replaced by a file of its
    own first, so the write never reaches the other steps' files."""
    flags = os.O_WRONLY | os.O_CREAT
    fd = os.open(path, flags, 0o644)
    st = os.fstat(fd)
    if st.st_nlink > 1:
        os.close(fd)
        os.unlink(path)
        return os.open(path, flags, 0o644), 0
    return fd, st.st_size


def shared_store(wf_dir: str) -> str:
    """Where a run keeps the one copy of the small files many steps hold alike."""
    return os.path.join(wf_dir, ".groups", ".files")


def link_shared(store: str, path: str, text: str, symlink: bool = False) -> None:
    """Write ``path`` holding ``text`` as a hard link to the one copy of ``text`` in ``store``
    (with ``symlink``: ``path`` is a symlink to ``text``, a hard link to one such symlink).

    For the files many steps hold alike (``name``, ``type``, ``.dflow`` metadata, a pool
    worker's ``pid``, a slice's link to its loop's list): on ext4 a new inode costs
    100-300 µs of system time, a link to an existing one about 7 µs. An existing ``path`` is
    replaced atomically (a reader sees the old text or the new one). Writers of these files in place
    (:func:`overwrite`, :func:`write_new`) replace a link by a file of their own first. Where
    links are not possible (no hard links there, too many) ``path`` is written as before.
    """
    data = text.encode()
    src = store + ("/l" if symlink else "/f") + hashlib.sha1(data).hexdigest()
    for _ in range(3):
        try:
            os.link(src, path, follow_symlinks=False)
            return
        except FileExistsError:  # a step rewritten (resumed, retried): replaced atomically
            tmp = temp_path(path)
            try:
                os.link(src, tmp, follow_symlinks=False)
            except FileExistsError:  # a killed writer's
                os.unlink(tmp)
                continue
            except OSError:  # src went away (a deleted run): the loop tries again
                continue
            os.replace(tmp, path)
            return
        except FileNotFoundError:  # no copy yet (the first of its text), or no dir
            if not os.path.isdir(os.path.dirname(path)):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                continue
        except OSError as exc:
            if exc.errno != errno.EMLINK:  # EXDEV, EPERM: no links here
                break
            # ext4 allows 65,000 links to an inode: the next ones link to a new copy
        try:
            _new_copy(src, data, symlink)
        except OSError:  # the store cannot be written: the file is written alone
            break
    if symlink:
        place(text, path, "symlink")
    else:
        write_new(path, text)


def _new_copy(src: str, data: bytes, symlink: bool) -> None:
    """Put a fresh copy at ``src`` (atomically: a concurrent link sees the old copy or the
    new one; the loop and the mirror's writer thread may both make copies)."""
    os.makedirs(os.path.dirname(src), exist_ok=True)
    tmp = temp_path(src)
    if symlink:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(data.decode(), tmp)
    else:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    os.replace(tmp, src)


def remove_stray_temps(directory: str, prefix: str = "") -> int:
    """Remove the temporary files (and dirs) a killed writer left in ``directory`` (only
    those named ``<prefix>...``): how many. Call it where no writer runs (a resumed run's
    own dirs, a cache entry under its lock); layout dirs hold no user file of that name
    (parameter and artifact names have no dots)."""
    removed = 0
    try:
        with os.scandir(directory) as scan:
            stray = [e for e in scan if e.name.startswith(prefix) and TEMP_NAME.search(e.name)]
    except OSError:  # not there
        return 0
    for e in stray:
        with contextlib.suppress(OSError):
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)
            removed += 1
    return removed


def read_text(path: str | os.PathLike, default: str | None = None) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def host_path(workdir: str | os.PathLike, container_path: str) -> str:
    """Where a template's absolute path lives for a local step: below its workdir."""
    rel = os.path.normpath(container_path).lstrip("/")
    return os.path.join(workdir, rel)


def place(src: str, dst: str, method: str) -> None:
    """Make ``dst`` show ``src`` by ``method`` (symlink / link: hard links, else copies / copy).

    An existing ``dst`` is replaced (a re-run step starts from its inputs again).
    """
    src = os.path.abspath(src)
    if method == "symlink":
        # optimistic: one syscall when dst is new and its dir exists (the usual case)
        try:
            os.symlink(src, dst)
            return
        except FileNotFoundError:
            os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        except FileExistsError:
            remove(dst)
        os.symlink(src, dst)
        return
    remove(dst)
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    if os.path.isdir(src):
        if method == "link":
            shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            shutil.copytree(src, dst, symlinks=True)
    elif method == "link":
        _link_or_copy(src, dst)
    else:
        shutil.copy2(src, dst)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def remove(path: str) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def resolve_source(path: str, sub_path: str | None = None, index: int | None = None) -> str:
    """The path of an artifact narrowed to ``sub_path`` and/or list item ``index``."""
    if index is not None:
        # one parse per catalog: each slice of a fan-out resolves its own item of the same one
        cat = catalog.catalog_index(path)
        if cat.is_list:
            if not -len(cat.items) <= index < len(cat.items):
                raise IndexError(
                    f"artifact {path} holds {len(cat.items)} items; item {index} does not exist"
                )
            path = str(Path(path) / cat.items[index]["dflow_list_item"])
        else:
            obj = catalog.path_object(Path(path), cat.items)
            if isinstance(obj, dict):
                path = str(obj[str(index)])
            elif index != 0:
                raise IndexError(f"artifact {path} holds one item; item {index} does not exist")
    return _narrow(path, sub_path)


def _narrow(path: str, sub_path: str | None) -> str:
    return os.path.join(path, sub_path) if sub_path else path


def sub_path_item(path: str, index: int) -> tuple[str, str]:
    """Item ``index`` of the artifact at ``path``: its local path, and its path inside the
    artifact ("" when the artifact has no catalog and so is its only item)."""
    item = resolve_source(path, index=index)
    rel = os.path.relpath(item, path)
    return item, "" if rel == os.curdir else Path(rel).as_posix()


class StepDir:
    """Files of one step directory.

    Methods taking a ``mirror`` queue their writes on it (files no step reads: metadata,
    empty dirs, copies of outputs); without one they write at once.
    """

    def __init__(self, wf_dir: str, name: str) -> None:
        # made four times per slice: a concatenation costs a tenth of an os.path.join (the
        # local engine runs on POSIX systems: "/" is the separator; names are node ids and
        # parameter names, never absolute paths, so this file's paths are concatenated)
        self.root = root = wf_dir + "/" + name
        self.inputs = root + "/inputs"
        self.outputs = root + "/outputs"
        self.workdir = root + "/workdir"
        self.log = root + "/log.txt"
        self.script = root + "/script"
        self.pid = root + "/pid"

    def tmp(self, tmp_root: str = "/tmp") -> str:
        """The host dir of a Python OP's ``tmp_root`` (its ``inputs/`` and ``outputs/``)."""
        return self.workdir + "/tmp" if tmp_root == "/tmp" else host_path(self.workdir, tmp_root)

    def create(
        self, name: str, type_: str, mirror: Mirror | None = None, spare: bool = False
    ) -> None:
        """The dir and its ``name`` and ``type``; ``spare``: a leaf step's dir may be a
        ``pod`` spare (:class:`SpareDirs`), with its ``inputs/`` and an empty ``log.txt``."""
        if not (spare and mirror is not None and mirror.take_spare("pod", self.root)):
            try:
                os.mkdir(self.root)
            except FileExistsError:
                pass
            except FileNotFoundError:
                os.makedirs(self.root, exist_ok=True)
        put = mirror.share if mirror is not None else overwrite
        put(self.root + "/name", name)
        put(self.root + "/type", type_)

    def set_phase(self, phase: str, mirror: Mirror | None = None) -> None:
        (mirror.put if mirror is not None else overwrite)(self.root + "/phase", phase)

    def reset_outputs(self) -> None:
        """A step run again starts from empty outputs (its inputs are rewritten too)."""
        if os.path.lexists(self.outputs):  # writers create the dirs they need
            remove(self.outputs)

    def write_parameter(
        self,
        io: str,
        name: str,
        text: str,
        meta: str | None = None,
        mirror: Mirror | None = None,
        source: str | None = None,
    ) -> None:
        """A parameter's text and, with ``meta``, its ``.dflow/<name>`` metadata; ``source``:
        the file the OP wrote it to (linked to when it holds the same text)."""
        path = f"{self.root}/{io}/parameters/{name}"
        if mirror is None:
            write_new(path, text)
        elif source is not None:
            mirror.write_like(path, text, source)
        else:
            mirror.write(path, text)
        if meta is not None:
            path = f"{self.root}/{io}/parameters/.dflow/{name}"
            (mirror.share if mirror is not None else write_new)(path, meta)

    def artifact_path(self, io: str, name: str) -> str:
        return f"{self.root}/{io}/artifacts/{name}"


def write_new(path: str, text: str) -> None:
    """Write a file of a step being set up (no reader yet): in place, dirs on demand."""
    try:
        fd, size = _open_own(path)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, size = _open_own(path)
    data = text.encode()
    try:
        os.write(fd, data)
        if size > len(data):
            os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def write_like(path: str, text: str, source: str) -> None:
    """Write ``path`` as a hard link to ``source`` when that holds ``text`` already (an
    output parameter the OP wrote: one inode for both files), else as a file of its own."""
    data = text.encode()
    try:
        fd = os.open(source, os.O_RDONLY)
    except OSError:
        fd = None
    if fd is not None:
        try:
            same = os.read(fd, len(data) + 1) == data
        finally:
            os.close(fd)
        if same:
            try:
                os.link(source, path)
                return
            except OSError:  # there already (a rewrite), or no links here
                pass
    write_new(path, text)


def write_status(wf_dir: str, phase: str) -> None:
    write_text(os.path.join(wf_dir, "status"), phase)


class SpareDirs:
    """A step's dirs made ahead by the mirror's writer thread, moved in by ``rename``.

    Between one chain step's end and the next one's start the runner made ``inputs/``,
    ``inputs/parameters``, ``inputs/artifacts`` and a Python OP's ``workdir/tmp/inputs/artifacts``
    (7 ``mkdir`` calls, 60-100 µs of CPU each on ext4), and its worker then made
    ``workdir/tmp/outputs/{parameters,artifacts}`` (3 more); before them the runner made the
    step's own dir and the worker its ``log.txt``. On a disk the writer thread makes
    them while a worker runs the step before (the other core is idle in a chain), as trees
    ``<wf-dir>/.spare/<kind>-<n>`` of the :data:`KINDS` that steps have asked for;
    :meth:`take` moves one into a step dir with one ``rename`` (about 25 µs). A spare is the
    dir itself (no parent left behind to remove), so the step's layout is the one ``mkdir``
    makes. A dir that exists already (a retried or resumed step) is never replaced: the take
    fails and the caller makes the dirs as before. :meth:`discard` removes what is left (the
    run's end, and a killed run's spares at the next start).
    """

    #: kind -> the dirs below the spare's root, parents first
    KINDS = {
        # a leaf step's own dir (``mkdir`` of it, then its ``inputs`` spare's rename, and its
        # worker's creation of ``log.txt`` were on the critical path: one rename now)
        "pod": ("inputs", "inputs/parameters", "inputs/artifacts"),
        "inputs": ("parameters", "artifacts"),
        "workdir": ("tmp", "tmp/inputs", "tmp/inputs/artifacts"),
        # a Python OP with output parameters and artifacts, no cache (a cache hit's restore
        # moves its outputs dir in whole, which needs it absent)
        "workdir-out": (
            "tmp",
            "tmp/inputs",
            "tmp/inputs/artifacts",
            "tmp/outputs",
            "tmp/outputs/parameters",
            "tmp/outputs/artifacts",
        ),
    }
    #: kind -> the empty files in the spare (a step's log is opened for appending)
    FILES = {"pod": ("log.txt",)}
    KEEP = 2  # spares of each kind kept ready (a chain takes one a step)

    def __init__(self, wf_dir: str) -> None:
        self.root = os.path.join(wf_dir, ".spare")
        # only the kinds asked for are made (the first take of each finds none)
        self.ready: dict[str, collections.deque[str]] = {}
        self.made = 0
        self.broken = False  # a spare could not be made (a full disk): stop trying

    def take(self, kind: str, dest: str) -> bool:
        """Move a spare of ``kind`` to ``dest``; False when none is ready or ``dest`` exists
        (a re-run step's dir: it is left as it is)."""
        ready = self.ready.get(kind)
        if ready is None:
            self.ready[kind] = collections.deque()
            return False
        try:
            spare = ready.popleft()  # atomic against the writer's append
        except IndexError:
            return False
        try:
            os.rename(spare, dest)  # fails on a dest that is a file or a dir not empty
        except OSError:
            ready.appendleft(spare)
            return False
        return True

    def wanted(self) -> bool:
        return not self.broken and any(len(r) < self.KEEP for r in tuple(self.ready.values()))

    def make_one(self) -> None:
        """Make one spare of the kind with the fewest ready (the writer thread, when its queue
        is empty)."""
        if self.broken or not self.ready:
            return
        ready = dict(self.ready)  # the loop may add a kind meanwhile
        kind = min(ready, key=lambda k: len(ready[k]))
        path = os.path.join(self.root, f"{kind}-{self.made}")
        self.made += 1
        try:
            try:
                os.mkdir(path)
            except FileNotFoundError:  # the first one
                os.mkdir(self.root)
                os.mkdir(path)
            for sub in self.KINDS[kind]:
                os.mkdir(os.path.join(path, sub))
            for name in self.FILES.get(kind, ()):
                os.close(os.open(os.path.join(path, name), os.O_WRONLY | os.O_CREAT, 0o644))
        except OSError:
            self.broken = True  # the steps make their own dirs; a full disk fails there
            return
        ready[kind].append(path)

    def discard(self, final: bool = True) -> None:
        """Remove the spares: the run's end (``final``: none made after it), or a killed run's
        at the next start."""
        self.broken = self.broken or final
        for ready in self.ready.values():
            ready.clear()
        shutil.rmtree(self.root, ignore_errors=True)

"""Input artifact sources to local paths; stacking sliced output artifacts.

A source is an uploaded artifact (``S3Artifact`` in the configured store, ``LocalArtifact``,
``HTTPArtifact``), a reference to another step's or the template's artifact (possibly narrowed
by ``.sub_path()`` or ``[i]``), a ``{{...}}`` string, or a list/dict of those. Objects in a
remote store are downloaded once per key into ``<artifact dir>/.cache/`` (pydflow's
``debug_s3``); keys of a local store are used in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import threading
from pathlib import Path
from typing import Any, overload

from dflow import catalog
from dflow.model.io import PVC, ArtifactRef, InputArtifact, OutputArtifact

from .journal import Node
from .layout import place, remove_stray_temps, resolve_source, temp_path, write_text
from .saves import volume_path
from .state import Frame, RunContext
from .stepfiles import groups_dir
from .values import StepError, digest, parse_artifact_ref, render_text

_download_lock = threading.Lock()


def resolve_artifact(
    ctx: RunContext, frame: Frame | None, source: Any, scope: dict, where: str
) -> str | None:
    """The local path of ``source`` (None for an absent optional artifact)."""
    if source is None:
        return None
    if isinstance(source, ArtifactRef):
        base = resolve_artifact(ctx, frame, source.artifact, scope, where)
        if base is None:
            return None
        sub = render_text(str(source.sub_path), scope, where) if source.sub_path else None
        index = source.slice
        if isinstance(index, str):
            index = int(render_text(index, scope, where))
        return resolve_source(base, sub, index)
    if isinstance(source, OutputArtifact):
        if source.step is None or source.name is None:
            raise StepError(f"{where}: output artifact '{source.name}' is not bound to a step")
        res = _scope(frame, where).results.get(source.step.name)
        if res is None:
            raise StepError(f"{where}: step '{source.step.name}' has not run before this one")
        path = res.arts.get(source.name)
        if path is None:
            raise StepError(
                f"{where}: step '{source.step.name}' did not produce artifact '{source.name}'"
            )
        return path
    if isinstance(source, InputArtifact):
        if source.name not in _scope(frame, where).arts:
            raise StepError(f"{where}: template has no input artifact '{source.name}'")
        return _scope(frame, where).arts[source.name]
    if isinstance(source, str):
        ref = parse_artifact_ref(source)
        if ref is None:
            text = render_text(source, scope, where)
            return os.path.abspath(text)
        kind, step, name, sub = ref
        if kind in ("steps", "tasks"):
            res = _scope(frame, where).results.get(step)
            path = res.arts.get(name) if res is not None else None
        elif kind == "inputs":
            path = _scope(frame, where).arts.get(name)
        else:
            path = ctx.globals["artifacts"].get(name, {}).get("local_path")
        if path is None:
            raise StepError(f"{where}: artifact {source!r} is not available")
        return resolve_source(path, render_text(sub, scope, where) if sub else None)
    if isinstance(source, list | tuple | dict):
        return _combine(ctx, frame, source, scope, where)
    if isinstance(source, PVC):  # written by its producer while the reader runs
        return volume_path(ctx, source)
    return _stored(ctx, source, where)


def _scope(frame: Frame | None, where: str) -> Frame:
    if frame is None:  # reuse_step resolves stored artifacts only, outside any template
        raise StepError(f"{where}: a step's inputs or outputs are referenced outside a template")
    return frame


def pending_fetches(ctx: RunContext, source: Any) -> list[Any]:
    """The stored artifacts in ``source`` still to download or to unpack.

    The scheduler fetches these on a thread before resolving a step's inputs, so a large
    download or archive does not stall every other step of the run (the event loop) while it
    lasts; once fetched, resolving them costs a ``stat`` or two.
    """
    if isinstance(source, ArtifactRef):
        return pending_fetches(ctx, source.artifact)
    if isinstance(source, list | tuple):
        return [p for item in source for p in pending_fetches(ctx, item)]
    if isinstance(source, dict):
        return [p for item in source.values() for p in pending_fetches(ctx, item)]
    if source is None or isinstance(source, str | OutputArtifact | InputArtifact | PVC):
        return []
    if hasattr(source, "local_path") and not hasattr(source, "key"):
        return []
    if getattr(source, "key", None):
        return [] if _from_store(ctx, source, fetch=False) is not None else [source]
    if getattr(source, "url", None):
        cached = os.path.join(ctx.settings.artifact_dir, ".cache", "http-" + digest(source.url))
        return [] if os.path.isdir(cached) else [source]
    return []


async def prefetch(ctx: RunContext, sources: list[Any]) -> None:
    """Download and unpack the stored artifacts among ``sources``, off the event loop."""
    import asyncio

    for source in sources:
        for art in pending_fetches(ctx, source):
            await asyncio.to_thread(_fetch, ctx, art)


def _fetch(ctx: RunContext, art: Any) -> None:
    if getattr(art, "key", None):
        _from_store(ctx, art)
    else:
        _download(ctx, art, "http-" + digest(art.url))


def _stored(ctx: RunContext, art: Any, where: str) -> str:
    sub = getattr(art, "selected_path", None)
    index = getattr(art, "slice", None)
    if hasattr(art, "local_path") and not hasattr(art, "key"):
        base = os.path.abspath(art.local_path)
    elif hasattr(art, "key") and art.key:
        base = _from_store(ctx, art)
    elif hasattr(art, "url"):
        base = _download(ctx, art, "http-" + digest(art.url))
    else:
        raise StepError(f"{where}: cannot use {art!r} as an artifact")
    if not os.path.lexists(base):
        raise StepError(f"{where}: input artifact {art!r} does not exist (looked at {base})")
    return resolve_source(base, sub, int(index) if index is not None else None)


@overload
def _from_store(ctx: RunContext, art: Any) -> str: ...
@overload
def _from_store(ctx: RunContext, art: Any, fetch: bool) -> str | None: ...
def _from_store(ctx: RunContext, art: Any, fetch: bool = True) -> str | None:
    """The local path of the object(s) at ``art.key``; with ``fetch=False``, None when
    they are still to download or to unpack (and nothing is done)."""
    from dflow.backends import get_storage_client

    client = get_storage_client()
    key = art.key
    if client.capabilities.local_files and not key.endswith(".tgz"):
        return _unpacked(ctx, client.local_path(key.rstrip("/")), key, fetch)
    name = "s3-" + digest(key)
    got = os.path.join(ctx.settings.artifact_dir, ".cache", name)
    if fetch:
        _download(ctx, art, name)
    elif not os.path.isdir(got):
        return None
    if key.endswith(".tgz"):
        return got
    inside = os.listdir(got) if os.path.isdir(got) else []
    return _unpacked(ctx, os.path.join(got, inside[0]), key, fetch) if len(inside) == 1 else got


#: (object path, size, mtime) -> whether it is a gzipped tar: one look per object and content
_sniffed: dict[tuple[str, int, int], bool] = {}


def _unpacked(ctx: RunContext, path: str, key: str, unpack: bool) -> str | None:
    """``path`` (the object stored at ``key``), or its content when it is a gzipped tar
    whatever its name, as Argo's executor loads an input artifact (loadArtifacts auto-detects
    a tarball, then untars it and renames a single top entry to the artifact's path:
    workflow/executor/executor.go, v3.7.18). An output saved to a key by default is one.
    With ``unpack=False``, None when that is still to find out or to do."""
    try:
        st = os.stat(path)
    except OSError:
        return path  # absent: the caller says so
    if not stat.S_ISREG(st.st_mode):
        return path
    stamp = (path, st.st_size, st.st_mtime_ns)
    # the key may be saved again during the run: its content, not its name, is cached
    dest = os.path.join(
        ctx.settings.artifact_dir,
        ".cache",
        "untar-" + digest(f"{key}:{st.st_size}:{st.st_mtime_ns}"),
    )
    tarball = _sniffed.get(stamp)
    if tarball is None or (tarball and not os.path.isdir(dest)):
        if not unpack:
            return None
        with _download_lock:
            tarball = _sniffed.get(stamp)
            if tarball is None:
                tarball = _sniffed[stamp] = _is_tarball(path)
            if tarball and not os.path.isdir(dest):
                from dflow.storage.archive import extract_archive

                tmp = temp_path(dest)
                extract_archive(path, tmp, name=key)
                os.rename(tmp, dest)
    if not tarball:
        return path
    entries = os.listdir(dest)
    return os.path.join(dest, entries[0]) if len(entries) == 1 else dest


def _is_tarball(path: str) -> bool:
    import tarfile

    with open(path, "rb") as f:
        if f.read(2) != b"\x1f\x8b":  # gzip's magic number first: one read for most files
            return False
    try:
        with tarfile.open(path, "r:gz") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False


def _download(ctx: RunContext, art: Any, name: str) -> str:
    """Fetch a remote (or archived) artifact once into the artifact cache.

    Every item of a fan-out resolves its inputs on the run's event loop, so one run never
    downloads a key twice; an ``flock`` on ``<name>.lock`` serializes runs (processes) sharing
    the artifact dir, and the download goes to a temporary dir renamed into place, so a
    crashed download is never taken for a finished one (and is removed by the next download
    of that key: whoever holds the lock is the only one downloading it).
    """
    from dflow.storage.api import download_artifact

    cache = os.path.join(ctx.settings.artifact_dir, ".cache")
    dest = os.path.join(cache, name)
    if os.path.isdir(dest):
        return dest
    os.makedirs(cache, exist_ok=True)
    with _download_lock:
        fd = os.open(dest + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not os.path.isdir(dest):
                plain = type(art).from_dict(
                    {k: v for k, v in art.to_dict().items() if k not in ("sub_path", "slice")}
                )
                remove_stray_temps(cache, prefix=name + ".")  # a killed download's
                tmp = temp_path(dest)
                os.makedirs(tmp)
                try:
                    download_artifact(plain, path=tmp, remove_catalog=False)
                except Exception as exc:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise StepError(f"cannot download input artifact {art!r}: {exc}") from exc
                os.rename(tmp, dest)
        finally:
            os.close(fd)
    return dest


def _combine(ctx: RunContext, frame: Frame | None, source: Any, scope: dict, where: str) -> str:
    """A list/dict of artifacts as one artifact dir: links plus a catalog."""
    root = os.path.join(ctx.wf_dir, ".combined", digest(repr(_describe(source)) + where, 16))
    if os.path.isdir(root):
        return root
    tmp = temp_path(root)
    os.makedirs(tmp, exist_ok=True)
    pairs = list(enumerate(source)) if isinstance(source, list | tuple) else list(source.items())
    items = []
    for k, v in pairs:
        path = resolve_artifact(ctx, frame, v, scope, where)
        if path is None:
            continue
        entry = f"{k}/{os.path.basename(path.rstrip('/'))}"
        place(path, os.path.join(tmp, entry), "symlink")
        inner = catalog.read_catalog(Path(path)) if os.path.isdir(path) else []
        if len(inner) == 1:  # a step's output artifact: the one path its catalog names
            entry = f"{entry}/{inner[0]['dflow_list_item']}"
        items.append({"dflow_list_item": entry, "order": k})
    catalog.write_catalog(Path(tmp), items)
    try:
        os.rename(tmp, root)
    except OSError:
        pass
    return root


def _describe(source: Any) -> Any:
    if isinstance(source, dict):
        return {k: _describe(v) for k, v in source.items()}
    if isinstance(source, list | tuple):
        return [_describe(v) for v in source]
    return str(source) + repr(getattr(source, "key", getattr(source, "local_path", "")))


def merge_stacked(ctx: RunContext, group: Node, name: str, sources: list[str]) -> str:
    """One artifact dir holding every slice's files (links) and one catalog merging theirs.

    Work proportional to the outputs: a scan of each slice's artifact dir and a link per
    file, the slices' catalog entries read and written as one catalog file (not a copy of
    each slice's catalog file, which cost a file create per slice)."""
    root = os.path.join(groups_dir(ctx, group), "outputs", "artifacts", name)
    cat = catalog.catalog_dir_name()
    os.makedirs(root, exist_ok=True)
    items: list[dict] = []
    for src in sources:
        src = _link_target(src)
        try:
            _link_files(src, root, cat, items)
        except NotADirectoryError:
            place(src, os.path.join(root, os.path.basename(src)), "symlink")
    if items or not sources:
        # a fan-out without items stacks an empty list: a catalog that lists nothing (on
        # Argo its init-artifact step writes one); a fixed name: a fan-out stacked again (a
        # resumed run) replaces it
        os.makedirs(os.path.join(root, cat), exist_ok=True)
        write_text(os.path.join(root, cat, "stacked"), json.dumps({"path_list": items}))
    return root


def _link_target(path: str) -> str:
    """``path`` with its last component followed if a link (a slice's output artifact is a
    link into its workdir): the stacked links point at the files themselves."""
    try:
        return os.path.join(os.path.dirname(path), os.readlink(path))
    except OSError:  # not a link
        return path


def _link_files(src: str, dst: str, cat: str | None, items: list[dict]) -> None:
    """Link each file below ``src`` into ``dst`` (same relative path); collect the entries
    of the catalog files in ``src/<cat>`` (``cat`` None: below the top, no catalog)."""
    with os.scandir(src) as scan:
        entries = list(scan)
    for e in entries:
        target = os.path.join(dst, e.name)
        if cat is not None and e.name == cat and e.is_dir(follow_symlinks=False):
            _read_catalogs(e.path, target, items)
        elif e.is_dir(follow_symlinks=False):
            with contextlib.suppress(FileExistsError):
                os.mkdir(target)
            _link_files(e.path, target, None, items)
        else:
            place(e.path, target, "symlink")


def _read_catalogs(cat_dir: str, dst: str, items: list[dict]) -> None:
    for e in sorted(os.scandir(cat_dir), key=lambda x: x.name):
        with open(e.path, "rb") as f:
            raw = f.read()
        try:
            got = json.loads(raw)["path_list"]
        except (ValueError, KeyError, TypeError):
            got = None
        if isinstance(got, list):
            items.extend(got)
            continue
        # not a catalog this merge understands: kept as it is, for its reader to judge
        os.makedirs(dst, exist_ok=True)
        target = os.path.join(dst, e.name)
        if not os.path.exists(target):
            with open(target, "wb") as f:
                f.write(raw)

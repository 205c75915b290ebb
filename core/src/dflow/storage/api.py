"""The artifact API: upload paths as an artifact, download it back in the same shape.

An uploaded artifact is one directory mirroring the source paths (relative to the current
directory; outside it, the absolute path minus the leading ``/``) plus a catalog
(:mod:`dflow.catalog`) recording whether it was a list or a (nested) dict of paths. It is stored
as one ``.tgz`` object (``archive="tar"``) or as one object per file (``archive=None``) under the
key ``<prefix>upload/<uuid4>/<name>``.

Uploads take a snapshot: the bytes are copied into the store at upload time (for the local store
too, see :mod:`dflow.storage.local`), so changing a source file afterwards does not change the
artifact. Every function takes ``storage_client=``; without it, the configured store is used.
"""

from __future__ import annotations

import gzip
import json
import os
import tarfile
import tempfile
import uuid
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import catalog
from ..config import tempdir  # DFLOW_TEMPDIR
from .archive import UnsafeArchive, content_root, extract_archive, open_tar_stream, write_tgz
from .artifacts import CustomArtifact, HTTPArtifact, LocalArtifact, S3Artifact, config_dicts
from .client import StorageClient
from .errors import NotFound, StorageError
from .local import LocalStorageClient
from .objects import (
    catalog_dir,
    copy_s3,
    download_text,
    fetch_objects,
    objects_under,
    resolve_client,
    upload_text,
    upload_tree,
)
from .paths import local_path_under
from .transfer import atomic_file, copy_stream

ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar")


# -- upload -----------------------------------------------------------------------------
def _flatten(obj: Any) -> list[Any]:
    if isinstance(obj, Mapping):
        return [p for v in obj.values() for p in _flatten(v)]
    if isinstance(obj, list | tuple | set | frozenset):
        return [p for v in obj for p in _flatten(v)]
    return [] if obj is None else [obj]


def _mirror_rel(path: str) -> str:
    """Where ``path`` goes inside the artifact: relative to cwd, else absolute minus '/'."""
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute, os.getcwd())
    if rel == "." or rel == ".." or rel.startswith(".." + os.sep):
        rel = absolute.lstrip(os.sep) or "root"
    return rel.replace(os.sep, "/")


def _link_into(src: str, dest: str) -> None:
    # Overlapping inputs ("a" and "a/b.txt") merge: never write through a link into the source.
    if not os.path.lexists(dest):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.symlink(src, dest)
    elif os.path.isdir(dest) and not os.path.islink(dest) and os.path.isdir(src):
        for name in os.listdir(src):
            _link_into(os.path.join(src, name), os.path.join(dest, name))


def _covered(stage: str, rel: str) -> bool:
    parts = rel.split("/")
    return any(os.path.islink(os.path.join(stage, *parts[:i])) for i in range(1, len(parts)))


def _replace_paths(obj: Any, mapping: dict[str, str]) -> Any:
    if isinstance(obj, Mapping):
        return {k: _replace_paths(v, mapping) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_replace_paths(v, mapping) for v in obj]
    return None if obj is None else mapping[os.fspath(obj)]


def resolved_archive(archive: Any) -> str | None:
    """An artifact's ``archive``, with ``"default"`` read as ``config["archive_mode"]``."""
    if archive == "default":
        config, _ = config_dicts()
        return config.get("archive_mode", "tar")
    return archive


def upload_artifact(
    path: Any,
    archive: str | None = "default",
    namespace: str | None = None,
    dataset_name: str | None = None,
    *,
    storage_client: StorageClient | None = None,
    **kwargs: Any,
) -> S3Artifact:
    """Upload a path, a list of paths or a (nested) dict of paths as one artifact.

    ``archive``: ``"tar"`` (one ``.tgz``), None (one object per file) or ``"default"``
    (``config["archive_mode"]``). With ``namespace`` and ``dataset_name`` the artifact is
    registered with the lineage client and its URN set.
    """
    archive = resolved_archive(archive)
    if archive not in ("tar", None):
        raise ValueError(
            f"upload_artifact: archive must be 'tar', None or 'default', not {archive!r}"
        )
    if isinstance(path, str | os.PathLike):
        path = [path]
    elif isinstance(path, set | frozenset):
        path = sorted(path, key=os.fspath)
    sources = [os.fspath(p) for p in _flatten(path)]
    missing = [p for p in sources if not os.path.exists(p)]
    if missing:
        raise NotFound(
            f"upload_artifact: no such file or directory: {', '.join(map(repr, missing))}",
            hint=f"paths are relative to the current directory {os.getcwd()}",
        )
    client = resolve_client(storage_client)
    with tempfile.TemporaryDirectory(dir=tempdir()) as tmp:
        name = "tmp" + uuid.uuid4().hex[:8]
        stage = os.path.join(tmp, name)
        os.makedirs(stage)
        mapping: dict[str, str] = {}
        for src in sources:
            rel = _mirror_rel(src)
            mapping[src] = os.path.join(stage, *rel.split("/"))
            if not _covered(stage, rel):
                _link_into(os.path.abspath(src), mapping[src])
        items = catalog.items_for(_replace_paths(path, mapping), Path(stage))
        catalog.write_catalog(Path(stage), items)
        key = f"upload/{uuid.uuid4()}/{name}"
        # S3Artifact puts s3_config["prefix"] in front of the key: store under its key
        if archive == "tar":
            art = S3Artifact(key=key + ".tgz", path_list=items)
            stored = art.key or key + ".tgz"
            # the archive streams into the store as it is made (no local .tgz for stores
            # that override open_write)
            with client.open_write(stored, spool_dir=tmp) as out:
                write_tgz(stage, name, out)
        else:
            art = S3Artifact(key=key, path_list=items)
            upload_tree(client, stage, art.key or key)
    if namespace and dataset_name:
        from dflow.config import lineage_client

        lineage = lineage_client()
        if lineage is not None:
            art.urn = lineage.register_artifact(
                namespace=namespace, name=dataset_name, uri=art.key, **kwargs
            )
    return art


# -- download ---------------------------------------------------------------------------
def _key_of(artifact: Any) -> tuple[str, str | None, Any]:
    """``(key, sub_path, slice)`` of an artifact-like value."""
    if isinstance(artifact, S3Artifact):
        if not artifact.key:
            raise NotFound(
                "download_artifact: the S3Artifact has no key",
                hint="give S3Artifact(key=...), or download a step's output artifact",
            )
        return artifact.key, artifact.selected_path, artifact.slice
    if isinstance(artifact, str):
        return artifact, None, None
    if isinstance(artifact, Mapping):
        inner = artifact.get("s3") or artifact.get("oss") or artifact
        if isinstance(inner, Mapping) and inner.get("key"):
            return inner["key"], artifact.get("sub_path"), artifact.get("slice")
    key = getattr(artifact, "key", None)
    if isinstance(key, str) and key:
        return key, getattr(artifact, "sub_path", None), getattr(artifact, "slice", None)
    raise TypeError(f"cannot download {artifact!r}: not an artifact (no storage key)")


def _as_str(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _as_str(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_as_str(v) for v in obj]
    return os.fspath(obj)


def _is_archive(key: str) -> bool:
    return key.endswith(ARCHIVE_SUFFIXES)


def _remote_items(client: StorageClient, key: str) -> list[dict]:
    prefix = f"{key.rstrip('/')}/{catalog_dir()}/"
    with tempfile.TemporaryDirectory(dir=tempdir()) as tmp:
        for obj in client.list(prefix, recursive=True):
            dest = Path(tmp, catalog_dir(), obj[len(prefix) :].replace("/", "_"))
            dest.parent.mkdir(exist_ok=True)
            dest.write_text(download_text(client, obj), encoding="utf-8")
        return catalog.read_catalog(Path(tmp))


def _select(items: list[dict], sub: str | None, slice_: Any) -> tuple[list[str] | None, list[dict]]:
    """Relative paths to fetch (None: everything) and the catalog items that describe them."""
    if slice_ is not None:
        chosen = items[slice_] if isinstance(slice_, slice) else [items[int(slice_)]]
        return [it["dflow_list_item"] for it in chosen], chosen
    if sub:
        sub = sub.strip("/")
        inside = [
            it
            for it in items
            if it["dflow_list_item"] == sub or it["dflow_list_item"].startswith(sub + "/")
        ]
        return [sub], inside
    return None, items


def download_artifact(
    artifact: Any,
    extract: bool = True,
    sub_path: str | None = None,
    slice: Any = None,
    path: str = ".",
    remove_catalog: bool = True,
    *,
    storage_client: StorageClient | None = None,
    **kwargs: Any,
) -> Any:
    """Download ``artifact`` into ``path``; return its path object (list or nested dict).

    ``sub_path`` downloads one file or dir inside the artifact (kept at its relative place);
    ``slice`` (an index or a slice) the items of a list artifact. With ``sub_path`` or an
    index ``slice`` the one local path is returned (as pydflow does), not a list. ``.tgz``
    artifacts are extracted (without ``extract`` the archive itself is saved). The catalog is
    removed unless ``remove_catalog`` is False.
    """
    got = _download(artifact, extract, sub_path, slice, path, remove_catalog, storage_client)
    one = sub_path is not None or isinstance(slice, int)
    return got[0] if one and isinstance(got, list) and len(got) == 1 else got


def _download(
    artifact: Any,
    extract: bool,
    sub_path: str | None,
    slice: Any,
    path: str,
    remove_catalog: bool,
    storage_client: StorageClient | None,
) -> Any:
    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    if isinstance(artifact, HTTPArtifact):
        return [_download_http(artifact.url, path)]
    if isinstance(artifact, CustomArtifact):
        artifact.download(os.path.basename(path.rstrip("/")) or "artifact", path)
        return [path]
    if (
        isinstance(artifact, Mapping)
        and artifact.get("local_path")
        and not (artifact.get("s3") or artifact.get("oss") or artifact.get("key"))
    ):
        # a step output queried from the local engine: the files are on this machine
        artifact = LocalArtifact(artifact["local_path"])
    place = None
    if isinstance(artifact, LocalArtifact):
        src = os.path.abspath(artifact.local_path)
        if not os.path.exists(src):
            raise NotFound(f"local artifact '{artifact.local_path}' does not exist")
        local = LocalStorageClient(os.path.dirname(src))
        client: StorageClient = local
        key, sub0, slice0 = os.path.basename(src), artifact.selected_path, artifact.slice
        place = _local_placer(local)
    else:
        client = resolve_client(storage_client)
        key, sub0, slice0 = _key_of(artifact)
    sub = "/".join(p.strip("/") for p in (sub0, sub_path) if p) or None
    slice_ = slice if slice is not None else slice0
    if _is_archive(key):
        if not extract:
            dest = local_path_under(path, os.path.basename(key), f"object key '{key}'")
            client.download(key, dest)
            return [dest]
        with tempfile.TemporaryDirectory(dir=path) as tmp:
            root = _extract(client, key, tmp)
            if sub is None and slice_ is None:
                return _adopt_tree(root, path, remove_catalog)
            catalog.mark_empty_dirs(Path(root))  # the tree walk that follows sees only files
            local = LocalStorageClient(os.path.dirname(root))
            return _download_tree(
                local, os.path.basename(root), path, sub, slice_, remove_catalog, fetch=_move
            )
    objs, is_tree = objects_under(client, key)
    if not is_tree:
        dest = local_path_under(path, os.path.basename(key), f"object key '{key}'")
        (place or client.download)(key, dest)
        return [dest]
    return _download_tree(client, key, path, sub, slice_, remove_catalog, objs=objs, place=place)


COPY_METHODS = ("symlink", "link", "copy")


def _local_placer(client: LocalStorageClient) -> Any:
    """How the files of a local artifact (a local engine step's output) reach the download
    dir: ``config["debug_copy_method"]``, as pydflow's debug mode: ``symlink`` (the default)
    links each file, ``link`` hard-links it (a copy where that fails), ``copy`` copies it."""
    from ..config import config

    method = config.get("debug_copy_method") or "symlink"
    if method not in COPY_METHODS:
        raise ValueError(
            f"config['debug_copy_method'] = {method!r} is not valid: use one of "
            f"{', '.join(COPY_METHODS)}"
        )
    if method == "copy":
        return None

    def place(key: str, dest: str) -> None:
        src = client.local_path(key)
        if os.path.exists(dest) and os.path.samefile(src, dest):
            return  # downloaded onto itself: nothing to do (a link would point at itself)
        with atomic_file(dest) as tmp:
            if method == "symlink":
                os.symlink(src, tmp)
                return
            try:
                os.link(os.path.realpath(src), tmp)
            except OSError:  # another filesystem, or links not allowed: copy
                client.download(key, tmp)

    return place


def _adopt_tree(root: str, path: str, remove_catalog: bool) -> Any:
    """Move a whole extracted artifact into ``path``; return its path object.

    Each top-level entry is renamed in one step when ``path`` does not have it yet (no
    per-file work for a tree of thousands of files) and merged file by file when it does.
    """
    items = catalog.read_catalog(Path(root))
    for name in sorted(os.listdir(root)):
        if name == catalog_dir() and remove_catalog:
            continue
        _merge_into(os.path.join(root, name), os.path.join(path, name))
    if not items:
        return [path]
    obj = _as_str(catalog.path_object(Path(path), items))
    return [obj] if isinstance(obj, str) else obj  # pydflow always returns a list for paths


def _merge_into(src: str, dest: str) -> None:
    if not os.path.lexists(dest):
        os.rename(src, dest)
    elif (
        os.path.isdir(src)
        and not os.path.islink(src)
        and os.path.isdir(dest)
        and not os.path.islink(dest)
    ):
        for name in os.listdir(src):
            _merge_into(os.path.join(src, name), os.path.join(dest, name))
    else:
        os.replace(src, dest)  # a file replaces the old one atomically


def _move(src_key_path: str, dest: str) -> None:
    with atomic_file(dest) as tmp:
        os.replace(src_key_path, tmp)


def _download_tree(
    client: StorageClient,
    key: str,
    path: str,
    sub: str | None,
    slice_: Any,
    remove_catalog: bool,
    objs: list[str] | None = None,
    fetch: Any = None,
    place: Any = None,
) -> Any:
    key = key.rstrip("/")
    if objs is None:
        objs, _ = objects_under(client, key)
    items = _remote_items(client, key)
    wanted, chosen = _select(items, sub, slice_)
    cat = catalog_dir() + "/"
    pairs = []
    for obj in objs:
        rel = obj[len(key) + 1 :]
        if rel.startswith(cat):
            if remove_catalog or wanted is not None:
                continue
        elif wanted is not None and not any(rel == w or rel.startswith(w + "/") for w in wanted):
            continue
        pairs.append((obj, local_path_under(path, rel, f"object key '{obj}'")))
    if wanted is not None and not pairs:
        raise NotFound(f"artifact '{key}' has no '{', '.join(wanted)}'", key=key)
    if fetch is not None:
        local = client  # an extracted archive: move files instead of copying them
        fetch_objects(client, pairs, fetch=lambda o, d: fetch(local.local_path(o), d))
    else:
        fetch_objects(client, pairs, fetch=place)  # place: a local artifact's files linked
    if slice_ is not None:
        return [os.path.join(path, *w.split("/")) for w in wanted or []]
    if sub and not chosen:
        return [os.path.join(path, *sub.split("/"))]
    if not chosen:
        return [path]
    obj = _as_str(catalog.path_object(Path(path), chosen))
    return [obj] if isinstance(obj, str) else obj  # pydflow always returns a list for paths


def _extract(client: StorageClient, key: str, tmp: str) -> str:
    """Stream the archive ``key`` into ``tmp`` and extract it; return its content root."""
    out = os.path.join(tmp, "x")
    try:
        with client.open_read(key, spool_dir=tmp) as stream:
            extract_archive(stream, out, name=key, merge_top=True)
    except UnsafeArchive:
        raise
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise StorageError(f"artifact '{key}' is not a valid tar archive: {exc}", key=key)
    return content_root(out)


def _download_http(url: str, path: str) -> str:
    import urllib.parse
    import urllib.request  # here: with http.client and email, 6 ms of every `import dflow`

    name = os.path.basename(urllib.parse.urlparse(url).path) or "index"
    dest = os.path.join(path, name)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, atomic_file(dest) as tmp:
            with open(tmp, "wb") as f:
                copy_stream(resp, f)
    except OSError as exc:
        raise NotFound(f"cannot download HTTP artifact {url}: {exc}", key=url)
    return dest


# -- copy and catalogs ------------------------------------------------------------------
def copy_artifact(
    src: Any, dst: Any, sort: bool = False, *, storage_client: StorageClient | None = None
) -> S3Artifact:
    """Server-side copy of ``src`` into ``dst`` (artifacts or keys); return the destination.

    With ``sort``, ``src``'s list items are appended after ``dst``'s (orders offset)."""
    client = resolve_client(storage_client)
    src_key, _, _ = _key_of(src)
    dst_key, _, _ = _key_of(dst)
    if not sort:
        return S3Artifact(key=copy_s3(src_key, dst_key, storage_client=client))
    if _is_archive(src_key) or _is_archive(dst_key):
        raise StorageError("copy_artifact(sort=True) needs unarchived artifacts (archive=None)")
    existing = _remote_items(client, dst_key) if client.list(dst_key.rstrip("/") + "/") else []
    offset = 1 + max(
        (it["order"] for it in existing if isinstance(it.get("order"), int)), default=-1
    )
    items = [
        dict(it, order=it["order"] + offset) if isinstance(it.get("order"), int) else it
        for it in _remote_items(client, src_key)
    ]
    key = copy_s3(src_key, dst_key, ignore_catalog=True, storage_client=client)
    upload_text(client, f"{key}/{catalog_dir()}/{uuid.uuid4()}", json.dumps({"path_list": items}))
    return S3Artifact(key=key)


def catalog_of_artifact(
    art: Any, storage_client: StorageClient | None = None, **kwargs: Any
) -> list[dict]:
    """The catalog items of a stored artifact, sorted by order ([] without a catalog).

    Each item is ``{"dflow_list_item": <path in the artifact>, "order": <order>}``; a packed
    (``.tgz``) artifact is read for its catalog members only.
    """
    client = resolve_client(storage_client)
    key, _, _ = _key_of(art)
    if not _is_archive(key):
        return _remote_items(client, key)
    with tempfile.TemporaryDirectory(dir=tempdir()) as tmp:
        cat_dir = Path(tmp, "cat", catalog_dir())
        cat_dir.mkdir(parents=True)
        with client.open_read(key, spool_dir=tmp) as stream, open_tar_stream(stream) as tar:
            for member in tar:  # only catalog members are read out
                parts = member.name.split("/")
                if member.isfile() and catalog_dir() in parts[:-1]:
                    data = tar.extractfile(member)
                    if data is not None:
                        (cat_dir / f"{len(os.listdir(cat_dir))}-{parts[-1]}").write_bytes(
                            data.read()
                        )
        return catalog.read_catalog(cat_dir.parent)


def path_list_of_artifact(
    art: Any, storage_client: StorageClient | None = None, **kwargs: Any
) -> list[Any]:
    """The paths in a stored artifact, in catalog order (pydflow: ``dflow_list_item`` values)."""
    return [item.get("dflow_list_item") for item in catalog_of_artifact(art, storage_client)]


def path_object_of_artifact(
    art: Any, storage_client: StorageClient | None = None, **kwargs: Any
) -> Any:
    """The artifact's shape with relative paths (a list or nested dict); [] without catalog."""
    items = catalog_of_artifact(art, storage_client)
    if not items:
        return []
    return _as_str(catalog.path_object(Path(""), items))


__all__ = [
    "catalog_of_artifact",
    "copy_artifact",
    "download_artifact",
    "path_list_of_artifact",
    "path_object_of_artifact",
    "upload_artifact",
]

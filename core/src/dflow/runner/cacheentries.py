"""The step cache's entries on disk: manifests, content-addressed objects, history.

Standard library only (runs in pods and HPC jobs, Python 3.7+). Layout under the cache root::

    entries/<key[:2]>/<key>.json     the manifest: the entry exists when this file does
    objects/<sha[:2]>/<sha256>       output files by content (shared by entries alike)
    history/<step digest>.jsonl      one line per run of a step (``dflow explain``)

Output files of up to 4 KiB (parameters, catalogs, small artifact files; up to 64 KiB per
entry) are kept in the manifest itself (base64 ``data``): they are many and tiny, and a file
of their own (or an object PUT) each would cost more than the step's bookkeeping.

A manifest is created in place with ``O_EXCL``, which fails when the entry exists: of
concurrent writers of one key the first wins and the others use its entry. It carries a
digest of itself and each file's size and sha256: an entry whose manifest does not check out
(one cut short by a crash, or still being written), or whose objects are missing, short or
(checked on restore) altered, is never used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import time
import uuid
from typing import Callable

from .. import fileio

FORMAT = 2  # 2: small files inline in the manifest (any file with ``data``)
_CHUNK = 1 << 20
#: output files up to this size live in the manifest ...
INLINE_MAX = 4096
#: ... up to this many bytes per entry (the rest are objects)
INLINE_TOTAL = 64 * 1024
#: how long a writer that finds a damaged manifest of its key waits for it to be completed
#: by a concurrent writer (whose single ``write`` follows its ``O_EXCL`` open at once)
_SETTLE_S = (0.005, 0.02, 0.05)


# built once: ``json.dumps`` with any argument builds an encoder per call, which cost more
# than the encoding of a key record
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def canonical(obj: object) -> str:
    return _CANONICAL.encode(obj)


class KeyRecord(dict):
    """A key record (a plain dict to every reader) that keeps its canonical JSON, ``text``,
    from when it was keyed: the manifest and the history line embed that text rather than
    serialising the record again (:func:`dumps`). Never changed once keyed."""

    text = ""


def dumps(obj: dict) -> str:
    """Compact JSON of ``obj`` (in its own order: what reads it parses it), with each
    :class:`KeyRecord` value spliced in as its kept text."""
    kept = {k: v.text for k, v in obj.items() if isinstance(v, KeyRecord) and v.text}
    if not kept:
        return _COMPACT.encode(obj)
    rest = _COMPACT.encode({k: v for k, v in obj.items() if k not in kept})
    tail = ",".join(json.dumps(k) + ":" + text for k, text in kept.items())
    return rest[:-1] + ("," if len(rest) > 2 else "") + tail + "}"


def hash_file(path: str) -> str:
    return hash_and_size(path)[0]


def hash_and_size(path: str) -> tuple[str, int]:
    """(sha256, bytes) of the file at ``path``, read once (unbuffered: a tiny file costs an
    open, two reads and a close)."""
    h = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                return h.hexdigest(), size
            h.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)


def read_small(path: str, limit: int) -> bytes | None:
    """The content of the file at ``path`` when it holds at most ``limit`` bytes, else None."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                return data
            data += chunk
        return None
    finally:
        os.close(fd)


def manifest_path(root: str, key: str) -> str:
    return f"{root}{os.sep}entries{os.sep}{key[:2]}{os.sep}{key}.json"


def object_path(root: str, sha: str) -> str:
    return os.path.join(root, "objects", sha[:2], sha)


def encode_manifest(manifest: dict) -> bytes:
    """The manifest file: the sha256 of the body, a newline, the body (JSON, :func:`dumps`),
    so a reader checks it as it is, without serialising it again; sets
    ``manifest["digest"]``."""
    body = dumps({k: v for k, v in manifest.items() if k != "digest"}).encode("utf-8")
    manifest["digest"] = hashlib.sha256(body).hexdigest()
    return manifest["digest"].encode("ascii") + b"\n" + body


def _retry_in_new_dir(fn, path: str) -> None:
    """``fn()``, making ``path``'s directory first if it is missing (rarely: only once)."""
    try:
        fn()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fn()


def write_file(path: str, data: str | bytes) -> None:
    """Create ``path`` (and its directory when missing) holding ``data``. No fsync: a crash
    loses at most a cache entry, which is detected (digest) and recomputed."""
    fileio.write_file(path, data, 0o644)


def read_manifest(root: str, key: str) -> tuple[dict | None, str]:
    """(manifest, "") for a sound entry; (None, why) for a missing or damaged one. Checks the
    manifest's own digest and that every object is there with its size (contents: on
    restore)."""
    try:  # os-level: a miss (every cold slice's) costs one failed open
        fd = os.open(manifest_path(root, key), os.O_RDONLY)
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, f"unreadable manifest ({exc})"
    try:
        chunks = []
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
        text = b"".join(chunks)
    except OSError as exc:
        return None, f"unreadable manifest ({exc})"
    finally:
        os.close(fd)
    return check_manifest(text, key, lambda sha: os.path.getsize(object_path(root, sha)))


def check_manifest(text: bytes, key: str, size_of: Callable) -> tuple[dict | None, str]:
    """(manifest, "") when ``text`` is a sound manifest of ``key`` whose objects all have
    their size (``size_of(sha)``, OSError when missing); else (None, why)."""
    digest, _, body = text.partition(b"\n")
    if hashlib.sha256(body).hexdigest().encode("ascii") != digest:
        return None, "manifest digest mismatch"
    try:
        manifest = json.loads(body.decode("utf-8"))
    except ValueError as exc:
        return None, f"unreadable manifest ({exc})"
    if not isinstance(manifest, dict):
        return None, "unreadable manifest (not an object)"
    manifest["digest"] = digest.decode("ascii")
    if manifest.get("key") != key or manifest.get("format") != FORMAT:
        return None, "manifest of another key or format"
    for rel, meta in sorted(manifest.get("files", {}).items()):
        if meta.get("kind") != "file" or "data" in meta:
            continue
        try:
            size = size_of(meta["sha256"])
        except OSError:
            return None, f"missing object for {rel}"
        if size != meta.get("size"):
            return None, f"object {rel} has {size} bytes, {meta.get('size')} expected"
    return manifest, ""


def _store_object(root: str, sha: str, src: str, size: int) -> None:
    """Put ``src`` into the objects as ``sha``: hard-linked where possible (a file changed
    through the link later is caught by the digest check on restore), else copied."""
    obj = object_path(root, sha)
    try:
        if os.path.getsize(obj) == size:
            return  # stored before (by this entry's twin, or another entry with this file)
        os.unlink(obj)  # a damaged object: replace it
    except OSError:
        pass

    def link() -> None:
        try:
            os.link(src, obj)
        except FileExistsError:
            pass  # a concurrent writer stored the same content
        except FileNotFoundError:
            raise
        except OSError:  # another file system, or no hard links: copy, then publish
            tmp = f"{obj}.{uuid.uuid4().hex[:8]}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, obj)

    _retry_in_new_dir(link, obj)


def scan_and_store(
    root: str, outputs_dir: str, put: Callable | None = None, listed: dict | None = None
) -> dict:
    """{relative path: {kind, size, sha256, data | target}} of ``outputs_dir``, each file read
    once: small ones into the manifest, the others to the objects (through ``put(sha, path,
    size)`` when given: another kind of store). ``listed``: every file in ``outputs_dir``,
    {relative path: (path, its bytes or None)}, as the runner wrote them: no listing, and
    the files whose bytes are known are not read."""
    put = put or (lambda sha, full, size: _store_object(root, sha, full, size))
    files: dict = {}
    budget = [INLINE_TOTAL]
    if listed is not None:
        for rel, (path, data) in listed.items():
            files[rel] = _file_meta(path, budget, put, data)
        return files

    def walk(path: str, rel: str) -> None:
        with os.scandir(path) as listing:
            items = list(listing)
        if not items and rel:
            files[rel] = {"kind": "dir"}
        for item in items:  # kinds from the listing itself: no stat
            sub = rel + "/" + item.name if rel else item.name
            if item.is_symlink():  # a link to a dir too: kept as a link
                files[sub] = {"kind": "link", "target": os.readlink(item.path)}
            elif item.is_dir():
                walk(item.path, sub)
            else:
                files[sub] = _file_meta(item.path, budget, put)

    walk(outputs_dir, "")
    return files


def _file_meta(path: str, budget: list, put: Callable, known: bytes | None = None) -> dict:
    """A file's entry in the manifest: inline while the entry's budget lasts, else an
    object. ``known``: the file's bytes, when the caller has them."""
    limit = min(INLINE_MAX, budget[0])
    if known is not None:
        data: bytes | None = known if len(known) <= limit else None
    else:
        data = read_small(path, limit)
    if data is not None:
        budget[0] -= len(data)
        sha = hashlib.sha256(data).hexdigest()
        encoded = base64.b64encode(data).decode("ascii")
        return {"kind": "file", "size": len(data), "sha256": sha, "data": encoded}
    sha, size = hash_and_size(path)
    put(sha, path, size)
    return {"kind": "file", "size": size, "sha256": sha}


def publish_manifest(root: str, key: str, manifest: dict) -> dict | None:
    """Publish ``manifest`` as the entry of ``key``: ours, or the sound one a concurrent
    writer published first (a damaged one is replaced); None when the cache is not
    writable. Written in place, no rename, no fsync: a reader checks the manifest's digest,
    so one cut short (by a crash, or still being written) is never used."""
    data = encode_manifest(manifest)
    final = manifest_path(root, key)
    for _ in range(3):
        try:
            _retry_in_new_dir(lambda: _create(final, data), final)
            return manifest
        except FileExistsError:
            existing = _settled(root, key)
            if existing is not None:
                return existing
            discard(root, key)
        except OSError:
            return None
    return None


def _create(path: str, data: bytes) -> None:
    """Create ``path`` holding ``data``; FileExistsError when it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        os.unlink(path)  # a full disk: no entry rather than a damaged one
        raise
    finally:
        os.close(fd)


def _settled(root: str, key: str) -> dict | None:
    """The sound entry of ``key``, waiting briefly for a concurrent writer to finish it."""
    for pause in (0.0, *_SETTLE_S):
        time.sleep(pause)
        existing, why = read_manifest(root, key)
        if existing is not None or why == "missing":
            return existing
    return None


def discard(root: str, key: str) -> None:
    """Remove the entry of ``key`` (its objects stay until ``dflow cache prune``)."""
    try:
        os.unlink(manifest_path(root, key))
    except OSError:
        pass


def _fetch_object(root: str, sha: str, dst: str) -> None:
    obj = object_path(root, sha)
    try:
        os.link(obj, dst)
    except OSError:
        shutil.copy2(obj, dst)


def restore(
    root: str,
    manifest: dict,
    outputs_dir: str,
    fetch: Callable | None = None,
    drop: Callable | None = None,
) -> str:
    """Put the entry's files into ``outputs_dir``, checking every file's digest; "" when
    done, else why the entry is unusable (then ``outputs_dir`` is left untouched and an
    altered object is removed). ``fetch(sha, dst)`` and ``drop(sha)`` read and remove an
    object of another kind of store."""
    fetch = fetch or (lambda sha, dst: _fetch_object(root, sha, dst))
    drop = drop or (lambda sha: os.unlink(object_path(root, sha)))
    files = manifest.get("files")
    if not isinstance(files, dict):
        return "cannot restore (the manifest lists no files)"
    if not files:
        os.makedirs(outputs_dir, exist_ok=True)
        return ""
    # a step restored on a hit is the only hot path of a warm run: each directory is made
    # once (no makedirs' stats) and files are written with one open each. Into an absent
    # ``outputs_dir`` (a fresh step's: the usual case) the tree is built in place, removed
    # again if the entry proves unusable; over an existing one it is built aside, then
    # moved in whole
    target, done = "", False
    try:
        fresh = _make_fresh(outputs_dir)
        target = outputs_dir if fresh else f"{outputs_dir}.restore-{uuid.uuid4().hex[:8]}"
        if not fresh:
            _retry_in_new_dir(lambda: os.mkdir(target), target)
        for rel in _dirs_of(files)[1:]:
            os.mkdir(os.path.join(target, rel))
        for rel, meta in sorted(files.items()):
            dst = os.path.join(target, rel)
            kind = meta.get("kind")
            if kind == "dir":
                continue
            if kind == "link":
                os.symlink(meta["target"], dst)
            elif "data" in meta:  # covered by the manifest's digest
                _create(dst, base64.b64decode(meta["data"]))
            else:
                fetch(meta["sha256"], dst)
                if hash_file(dst) != meta["sha256"]:
                    drop(meta["sha256"])
                    return f"object {rel} does not match its digest"
        done = fresh or _move_in(target, outputs_dir)
        return ""
    except (OSError, KeyError, ValueError, AttributeError, TypeError) as exc:
        return f"cannot restore ({exc})"
    finally:
        if target and not done:
            shutil.rmtree(target, ignore_errors=True)


def _make_fresh(outputs_dir: str) -> bool:
    """Make ``outputs_dir`` (and its parent when missing); False when it exists already."""
    try:
        _retry_in_new_dir(lambda: os.mkdir(outputs_dir), outputs_dir)
        return True
    except FileExistsError:
        return False


def _dirs_of(files: dict) -> list:
    """The directories (relative; "" the top) the entry's files need, parents first."""
    dirs = {""}
    for rel, meta in files.items():
        parts = rel.split("/")
        last = len(parts) if meta.get("kind") == "dir" else len(parts) - 1
        for i in range(1, last + 1):
            dirs.add("/".join(parts[:i]))
    return sorted(dirs, key=lambda d: (d.count("/") + bool(d), d))


def _move_in(staging: str, outputs_dir: str) -> bool:
    """Move the restored tree into ``outputs_dir``: one rename when that is absent or empty
    (True: ``staging`` is gone), else entry by entry, replacing what is there (False)."""
    try:
        os.rename(staging, outputs_dir)  # replaces an empty directory too
        return True
    except OSError:
        pass  # a non-empty directory (or another file system's quirk): entry by entry
    os.makedirs(outputs_dir, exist_ok=True)
    for name in os.listdir(staging):
        target = os.path.join(outputs_dir, name)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.unlink(target)
        os.rename(os.path.join(staging, name), target)
    return False


_HISTORIES: dict = {}


def history_path(root: str, step: str) -> str:
    if (root, step) not in _HISTORIES:  # a worker appends to one step's history many times
        if len(_HISTORIES) > 1024:
            _HISTORIES.clear()
        ident = hashlib.sha256(step.encode("utf-8")).hexdigest()[:32]
        _HISTORIES[root, step] = os.path.join(root, "history", ident + ".jsonl")
    return _HISTORIES[root, step]


def append_history(root: str, step: str, entry: dict) -> None:
    """Append one line: a single ``O_APPEND`` write, so concurrent runs never interleave."""
    path = history_path(root, step)
    line = (dumps(entry) + "\n").encode("utf-8")

    def append() -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    try:
        _retry_in_new_dir(append, path)
    except OSError:
        pass  # explanations are lost, results are not


def now() -> float:
    return time.time()


class DirStore:
    """The entries of a cache directory (local, or a shared volume mounted here)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.digests_dir: str | None = os.path.join(root, "digests")

    def read_manifest(self, key: str) -> tuple[dict | None, str]:
        return read_manifest(self.root, key)

    def restore(self, manifest: dict, outputs_dir: str) -> str:
        return restore(self.root, manifest, outputs_dir)

    def scan_and_store(self, outputs_dir: str, listed: dict | None = None) -> dict:
        return scan_and_store(self.root, outputs_dir, listed=listed)

    def publish_manifest(self, key: str, manifest: dict) -> dict | None:
        return publish_manifest(self.root, key, manifest)

    def discard(self, key: str) -> None:
        discard(self.root, key)

    def append_history(self, step: str, entry: dict) -> None:
        append_history(self.root, step, entry)

    def keys(self) -> list:
        """The keys of every entry."""
        base = os.path.join(self.root, "entries")
        keys = []
        for shard in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            shard_dir = os.path.join(base, shard)
            if os.path.isdir(shard_dir):
                keys += sorted(n[:-5] for n in os.listdir(shard_dir) if n.endswith(".json"))
        return keys

    def objects(self) -> list:
        """(sha, size, last change) of every object."""
        found = []
        for dirpath, _dirs, names in os.walk(os.path.join(self.root, "objects")):
            for name in names:
                path = os.path.join(dirpath, name)
                if path != object_path(self.root, name):
                    continue  # not an object (a copy being written)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                found.append((name, st.st_size, st.st_ctime))
        return found

    def drop_object(self, sha: str) -> None:
        try:
            os.unlink(object_path(self.root, sha))
        except OSError:
            pass

"""The step cache's entries on disk: manifests, content-addressed objects, history.

Standard library only (runs in pods and HPC jobs, Python 3.7+). Layout under the cache root::

    entries/<key[:2]>/<key>.json     the manifest: the entry exists when this file does
    objects/<sha[:2]>/<sha256>       output files by content (shared by entries alike)
    history/<step digest>.jsonl      one line per run of a step (``dflow explain``)
    tmp/                             manifests being written

A manifest is written to ``tmp/`` and published with ``os.link``, which fails when the entry
exists: of concurrent writers of one key the first wins and the others use its entry. It
carries a digest of itself and each file's size and sha256: an entry whose manifest does not
check out, or whose objects are missing, short or (checked on restore) altered, is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from typing import Callable

FORMAT = 1
_CHUNK = 1 << 20


def canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def hash_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_path(root: str, key: str) -> str:
    return os.path.join(root, "entries", key[:2], key + ".json")


def object_path(root: str, sha: str) -> str:
    return os.path.join(root, "objects", sha[:2], sha)


def manifest_digest(manifest: dict) -> str:
    text = canonical({k: v for k, v in manifest.items() if k != "digest"})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _retry_in_new_dir(fn, path: str) -> None:
    """``fn()``, making ``path``'s directory first if it is missing (rarely: only once)."""
    try:
        fn()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fn()


def write_file(path: str, text: str) -> None:
    def write() -> None:
        with open(path, "w") as f:
            f.write(text)

    _retry_in_new_dir(write, path)


def read_manifest(root: str, key: str) -> tuple[dict | None, str]:
    """(manifest, "") for a sound entry; (None, why) for a missing or damaged one. Checks the
    manifest's own digest and that every object is there with its size (contents: on
    restore)."""
    try:
        with open(manifest_path(root, key), "rb") as f:
            text = f.read()
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, f"unreadable manifest ({exc})"
    return check_manifest(text, key, lambda sha: os.path.getsize(object_path(root, sha)))


def check_manifest(text: bytes, key: str, size_of: Callable) -> tuple[dict | None, str]:
    """(manifest, "") when ``text`` is a sound manifest of ``key`` whose objects all have
    their size (``size_of(sha)``, OSError when missing); else (None, why)."""
    try:
        manifest = json.loads(text.decode("utf-8"))
    except ValueError as exc:
        return None, f"unreadable manifest ({exc})"
    if not isinstance(manifest, dict) or manifest.get("digest") != manifest_digest(manifest):
        return None, "manifest digest mismatch"
    if manifest.get("key") != key or manifest.get("format") != FORMAT:
        return None, "manifest of another key or format"
    for rel, meta in sorted(manifest.get("files", {}).items()):
        if meta.get("kind") != "file":
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


def scan_and_store(root: str, outputs_dir: str, put: Callable | None = None) -> dict:
    """{relative path: {kind, size, sha256 | target}} of ``outputs_dir``; files go to the
    objects (through ``put(sha, path, size)`` when given: another kind of store)."""
    put = put or (lambda sha, full, size: _store_object(root, sha, full, size))
    files: dict = {}
    for dirpath, dirnames, filenames in os.walk(outputs_dir):
        rel_dir = os.path.relpath(dirpath, outputs_dir)
        for name in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            dirnames.remove(name)  # os.walk lists a link to a dir as a dir
            filenames.append(name)
        if not filenames and not dirnames and rel_dir != ".":
            files[rel_dir] = {"kind": "dir"}
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if os.path.islink(full):
                files[rel] = {"kind": "link", "target": os.readlink(full)}
                continue
            size = os.path.getsize(full)
            sha = hash_file(full)
            put(sha, full, size)
            files[rel] = {"kind": "file", "size": size, "sha256": sha}
    return files


def publish_manifest(root: str, key: str, manifest: dict) -> dict | None:
    """Publish ``manifest`` as the entry of ``key``: ours, or the sound one a concurrent
    writer published first (a damaged one is replaced); None when the cache is not
    writable."""
    manifest["digest"] = manifest_digest(manifest)
    tmp = os.path.join(root, "tmp", f"{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}.json")
    final = manifest_path(root, key)
    try:
        write_file(tmp, canonical(manifest))
        for _ in range(3):
            try:
                _retry_in_new_dir(lambda: os.link(tmp, final), final)
                return manifest
            except FileExistsError:
                existing, _why = read_manifest(root, key)
                if existing is not None:
                    return existing
                discard(root, key)
            except OSError:  # no hard links here: atomic, though not exclusive
                os.replace(tmp, final)
                return manifest
        return None
    except OSError:
        return None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


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
    staging = f"{outputs_dir}.restore-{uuid.uuid4().hex[:8]}"
    made = set()
    try:
        for rel, meta in sorted(manifest["files"].items()):
            dst = os.path.join(staging, rel)
            if meta.get("kind") == "dir":
                os.makedirs(dst, exist_ok=True)
                continue
            parent = os.path.dirname(dst)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            if meta.get("kind") == "link":
                os.symlink(meta["target"], dst)
                continue
            fetch(meta["sha256"], dst)
            if hash_file(dst) != meta["sha256"]:
                drop(meta["sha256"])
                return f"object {rel} does not match its digest"
        os.makedirs(outputs_dir, exist_ok=True)
        for name in os.listdir(staging) if os.path.isdir(staging) else []:
            target = os.path.join(outputs_dir, name)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            elif os.path.lexists(target):
                os.unlink(target)
            os.rename(os.path.join(staging, name), target)
        return ""
    except (OSError, KeyError) as exc:
        return f"cannot restore ({exc})"
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def history_path(root: str, step: str) -> str:
    ident = hashlib.sha256(step.encode("utf-8")).hexdigest()[:32]
    return os.path.join(root, "history", ident + ".jsonl")


def append_history(root: str, step: str, entry: dict) -> None:
    """Append one line: a single ``O_APPEND`` write, so concurrent runs never interleave."""
    path = history_path(root, step)
    line = (canonical(entry) + "\n").encode("utf-8")

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

    def scan_and_store(self, outputs_dir: str) -> dict:
        return scan_and_store(self.root, outputs_dir)

    def publish_manifest(self, key: str, manifest: dict) -> dict | None:
        return publish_manifest(self.root, key, manifest)

    def discard(self, key: str) -> None:
        discard(self.root, key)

    def append_history(self, step: str, entry: dict) -> None:
        append_history(self.root, step, entry)

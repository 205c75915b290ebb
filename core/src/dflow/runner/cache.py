"""The runner side of the step cache: key a run by what determines its result, reuse or store.

Runs in pods and HPC jobs (Python 3.7+, standard library only). The cache is a directory
(a local one, or a shared one mounted where the runner runs) laid out as::

    <root>/entries/<k[:2]>/<key>/manifest.json    written last: no manifest, no entry
    <root>/entries/<k[:2]>/<key>/outputs/...       a copy of the outputs directory
    <root>/history/<step digest>/<ns>-<pid>.json   one record per run of a step (explain)
    <root>/digests/<k[:2]>/<stat digest>           file content digests, by inode and mtime
    <root>/tmp/                                    entries under construction

An entry is built under ``tmp/`` and published with one ``rename``: concurrent writers of one
key leave exactly one entry, and a reader never sees a half-written one. A manifest carries a
digest of itself and the size and sha256 of every file; a restore checks both and an entry
that fails is moved aside and rewritten, never used. What goes into a key: docs/cache.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

#: the version of the key record and of the entry layout; bump it to invalidate all entries
FORMAT = 1
#: parameter values longer than this are recorded as their digest (the key covers them alike)
_SHOWN = 200
_CHUNK = 1 << 20
#: files from this size on have their digest memoised
_MEMO_FROM = 1 << 20


@dataclasses.dataclass
class CacheSpec:
    """How one run uses the cache: ``root`` (the directory), ``run`` (the workflow id), ``step``
    (the step's identity across runs: workflow name and step path), ``fields`` (template
    fields in the key: image, command, executor; the same on every engine)."""

    root: str
    run: str = ""
    step: str = ""
    fields: dict = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CacheSpec:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("root"), str):
            raise ValueError("a cache spec is a JSON object with a 'root' directory")
        return cls(**{k: data[k] for k in ("root", "run", "step", "fields") if k in data})


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces; paths as strings, sets sorted."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(obj: Any) -> Any:
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=canonical)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return {"__repr__": repr(obj)}


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- content digests ------------------------------------------------------------------------


def _hash_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class Digests:
    """File content digests memoised by (device, inode, size, mtime): a file handed on from
    step to step by link or rename is read once, when it is first seen."""

    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, "digests")

    def _memo(self, st: os.stat_result) -> str:
        ident = sha256_text(f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
        return os.path.join(self.dir, ident[:2], ident)

    def file(self, path: str) -> str:
        st = os.stat(path)
        if st.st_size < _MEMO_FROM:
            return _hash_file(path)  # reading it is cheaper than a memo
        memo = self._memo(st)
        try:
            with open(memo) as f:
                text = f.read()
            if len(text) == 64:
                return text
        except OSError:
            pass
        digest = _hash_file(path)
        self.remember(st, digest)
        return digest

    def remember(self, st: os.stat_result, digest: str) -> None:
        memo = self._memo(st)
        try:
            _write_atomic(memo, digest)
        except OSError:
            pass  # a read-only cache still works, only slower

    def tree(self, path: str) -> str:
        """A file's digest, or a dir's: over its sorted (relative path, kind, digest)."""
        if os.path.islink(path) and not os.path.exists(path):
            return "link:" + os.readlink(path)
        if not os.path.isdir(path):
            return self.file(path)
        rows = []
        for dirpath, dirnames, filenames in os.walk(path):
            rel_dir = os.path.relpath(dirpath, path)
            for name in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                dirnames.remove(name)  # os.walk does not enter a link to a dir: digest it
                rel = os.path.normpath(os.path.join(rel_dir, name))
                rows.append([rel, "dir", self.tree(os.path.join(dirpath, name))])
            dirnames.sort()
            if not filenames and not dirnames:
                rows.append([rel_dir, "dir", ""])
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.normpath(os.path.join(rel_dir, name))
                if os.path.islink(full) and not os.path.exists(full):
                    rows.append([rel, "link", os.readlink(full)])
                else:
                    rows.append([rel, "file", self.file(full)])
        return sha256_text(canonical(rows))


def _map_leaves(obj: Any, fn: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _map_leaves(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        seq = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [_map_leaves(v, fn) for v in seq]
    return None if obj is None else fn(obj)


# -- the key ----------------------------------------------------------------------------------


_SOURCES: dict = {}


def op_source_digest(op_class: type) -> str | None:
    """The digest of the source of the module defining the OP (the class or function and the
    helpers beside it), else of the class alone; None when no source can be found."""
    module = sys.modules.get(op_class.__module__)
    path = getattr(module, "__file__", None)
    if path and os.path.isfile(path) and not path.endswith((".pyc", ".so", ".pyd")):
        st = os.stat(path)
        memo = (path, st.st_size, st.st_mtime_ns)
        if memo not in _SOURCES:  # a worker runs many slices of one OP
            with open(path, "rb") as f:
                _SOURCES[memo] = hashlib.sha256(f.read()).hexdigest()
        return _SOURCES[memo]
    try:
        return sha256_text(inspect.getsource(op_class))
    except (OSError, TypeError):
        return None


def _shown(value: Any) -> str:
    text = canonical(value)
    return text if len(text) <= _SHOWN else "sha256:" + sha256_text(text)


def key_record(
    spec: CacheSpec,
    op_class: type,
    names: list,
    artifact_names: set,
    op_ins: list,
    art_roots: dict,
    slice_index: Any,
    digests: Digests,
) -> dict | None:
    """What determines the result of running ``op_class`` on ``op_ins`` (one per slice of a
    group; one for a plain run). None when the OP's source cannot be found (never cached)."""
    source = op_source_digest(op_class)
    if source is None:
        return None
    params: dict = {}
    arts: dict = {}
    group = isinstance(slice_index, (list, tuple))
    for name in names:
        values = [op_in.get(name) for op_in in op_ins]
        if name in artifact_names:
            root = art_roots.get(name)

            def leaf(p: Any, root: Any = root) -> list:
                full = os.path.abspath(os.fspath(p))
                rel = os.path.relpath(full, root) if root else os.path.basename(full)
                return [rel, digests.tree(full) if os.path.lexists(full) else None]

            mapped = [_map_leaves(v, leaf) for v in values]
            absent = all(v is None for v in values)
            arts[name] = None if absent else sha256_text(canonical(mapped if group else mapped[0]))
        else:
            params[name] = _shown(values if group else values[0])
    return {
        "format": FORMAT,
        "op": {"name": f"{op_class.__module__}.{op_class.__qualname__}", "source": source},
        "template": spec.fields,
        "slice": list(slice_index) if group else slice_index,
        "parameters": params,
        "artifacts": arts,
    }


def key_of(record: dict) -> str:
    return sha256_text(canonical(record))


# -- entries ---------------------------------------------------------------------------------


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        f = open(tmp, "w")
    except FileNotFoundError:  # the first file of its dir: cheaper than making it each time
        os.makedirs(os.path.dirname(path), exist_ok=True)
        f = open(tmp, "w")
    with f:
        f.write(text)
    os.replace(tmp, path)


def entry_dir(root: str, key: str) -> str:
    return os.path.join(root, "entries", key[:2], key)


def manifest_digest(manifest: dict) -> str:
    return sha256_text(canonical({k: v for k, v in manifest.items() if k != "digest"}))


def read_manifest(root: str, key: str) -> tuple[dict | None, str]:
    """(manifest, "") for a sound entry; (None, why) for a missing or damaged one. Checks the
    manifest's own digest and every file's presence and size (contents: on restore)."""
    path = os.path.join(entry_dir(root, key), "manifest.json")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError) as exc:
        return None, f"unreadable manifest ({exc})"
    if not isinstance(manifest, dict) or manifest.get("digest") != manifest_digest(manifest):
        return None, "manifest digest mismatch"
    if manifest.get("key") != key or manifest.get("format") != FORMAT:
        return None, "manifest of another key or format"
    base = os.path.join(entry_dir(root, key), "outputs")
    for rel, meta in manifest.get("files", {}).items():
        full = os.path.join(base, rel)
        if meta.get("kind") == "file":
            try:
                size = os.path.getsize(full)
            except OSError:
                return None, f"missing object {rel}"
            if size != meta.get("size"):
                return None, f"object {rel} has {size} bytes, {meta.get('size')} expected"
        elif not os.path.lexists(full):
            return None, f"missing object {rel}"
    return manifest, ""


def _scan(base: str) -> dict:
    """{relative path: {kind, size, sha256 | target}} of a tree (files, links, empty dirs)."""
    files: dict = {}
    for dirpath, dirnames, filenames in os.walk(base):
        rel_dir = os.path.relpath(dirpath, base)
        for name in list(dirnames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):  # os.walk lists a link to a dir as a dir
                dirnames.remove(name)
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
            files[rel] = {"kind": "file", "size": size, "sha256": _hash_file(full)}
    return files


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(src, dst)


def _move_aside(root: str, path: str) -> None:
    trash = os.path.join(root, "tmp", f"bad-{uuid.uuid4().hex}")
    try:
        os.makedirs(os.path.dirname(trash), exist_ok=True)
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
    except OSError:
        pass  # another process moved it first


def publish(spec: CacheSpec, key: str, record: dict, outputs_dir: str) -> dict | None:
    """Store ``outputs_dir`` as the entry of ``key``; the published manifest (ours, or the one
    a concurrent writer published first), or None when the cache cannot be written."""
    tmp = os.path.join(spec.root, "tmp", f"{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        # linked where it can be: the digests checked on restore catch a file changed since
        shutil.copytree(
            outputs_dir, os.path.join(tmp, "outputs"), symlinks=True, copy_function=_link_or_copy
        )
        files = _scan(os.path.join(tmp, "outputs"))
        manifest = {
            "format": FORMAT,
            "key": key,
            "record": record,
            "files": files,
            "size": sum(m.get("size", 0) for m in files.values()),
            "run": spec.run,
            "step": spec.step,
            "created": time.time(),
        }
        manifest["digest"] = manifest_digest(manifest)
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            f.write(canonical(manifest))
        final = entry_dir(spec.root, key)
        for _ in range(3):
            try:
                os.rename(tmp, final)  # fails when the dir exists: one writer wins
                return manifest
            except FileNotFoundError:
                os.makedirs(os.path.dirname(final), exist_ok=True)
            except OSError:
                existing, _why = read_manifest(spec.root, key)
                if existing is not None:
                    return existing
                _move_aside(spec.root, final)  # a damaged entry: replace it
        return None
    except OSError:
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def restore(root: str, key: str, manifest: dict, outputs_dir: str) -> str:
    """Copy the entry's outputs into ``outputs_dir``, checking every file's digest; "" when
    done, else why the entry is unusable (then ``outputs_dir`` is left untouched)."""
    base = os.path.join(entry_dir(root, key), "outputs")
    staging = f"{outputs_dir}.restore-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(base, staging, symlinks=True, copy_function=_link_or_copy)
        for rel, meta in manifest["files"].items():
            if meta.get("kind") == "file" and _hash_file(os.path.join(staging, rel)) != meta.get(
                "sha256"
            ):
                return f"object {rel} does not match its digest"
        os.makedirs(outputs_dir, exist_ok=True)
        for name in os.listdir(staging):
            target = os.path.join(outputs_dir, name)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            elif os.path.lexists(target):
                os.unlink(target)
            os.rename(os.path.join(staging, name), target)
        return ""
    except OSError as exc:
        return f"cannot restore ({exc})"
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def record_history(spec: CacheSpec, key: str, record: dict | None, outcome: dict) -> None:
    """Append one record of this run of the step (what ``dflow explain`` compares)."""
    if not spec.step:
        return
    now = time.time_ns()
    path = os.path.join(
        spec.root, "history", sha256_text(spec.step)[:32], f"{now}-{os.getpid()}.json"
    )
    entry = {"step": spec.step, "run": spec.run, "key": key, "record": record, "created": now}
    entry.update(outcome)
    try:
        _write_atomic(path, canonical(entry))
    except OSError:
        pass


@dataclasses.dataclass
class Lookup:
    """The cache's answer for one run: ``reused`` (outputs restored) or not, and why."""

    spec: CacheSpec
    key: str = ""
    record: dict | None = None
    reused: bool = False
    why: str = ""
    digests: Digests | None = None


def lookup(
    spec: CacheSpec,
    op_class: type,
    names: list,
    artifact_names: set,
    op_ins: list,
    art_roots: dict,
    slice_index: Any,
    outputs_dir: str,
) -> Lookup:
    """Key this run; restore the outputs of a sound entry of its key into ``outputs_dir``."""
    digests = Digests(spec.root)
    record = key_record(
        spec, op_class, names, artifact_names, op_ins, art_roots, slice_index, digests
    )
    if record is None:
        note(f"not cached: the source of OP {op_class.__qualname__} cannot be found")
        return Lookup(spec, why="no OP source")
    key = key_of(record)
    manifest, why = read_manifest(spec.root, key)
    if manifest is not None:
        why = restore(spec.root, key, manifest, outputs_dir)
        if not why:
            note(f"reused from run {manifest.get('run')} (key {key[:12]})")
            outcome = {
                "outcome": "reused",
                "source_run": manifest.get("run"),
                "source_step": manifest.get("step"),
            }
            record_history(spec, key, record, outcome)
            return Lookup(spec, key, record, True, "", digests)
    if why != "missing":
        note(f"entry {key[:12]} ignored: {why}; the step runs and rewrites it")
        _move_aside(spec.root, entry_dir(spec.root, key))
    return Lookup(spec, key, record, False, why, digests)


def store(lk: Lookup, outputs_dir: str, ok: bool) -> None:
    """After the run: publish its outputs when it succeeded; record it for ``explain``."""
    if not lk.key or lk.reused or lk.digests is None:
        return
    if not ok:
        record_history(lk.spec, lk.key, lk.record, {"outcome": "failed", "lookup": lk.why})
        return
    manifest = publish(lk.spec, lk.key, lk.record or {}, outputs_dir)
    if manifest is None:
        note(f"cannot write the entry of key {lk.key[:12]} under {lk.spec.root}")
    record_history(lk.spec, lk.key, lk.record, {"outcome": "computed", "lookup": lk.why})


def note(text: str) -> None:
    """A line in the step's log."""
    print(f"[dflow cache] {text}", file=sys.stderr, flush=True)


def abspath(path: Any) -> str:
    return os.path.abspath(os.fspath(path)) if isinstance(path, (str, Path)) else ""

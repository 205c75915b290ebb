"""The runner side of the step cache: key a run by what determines its result, reuse or store.

Runs in pods and HPC jobs (Python 3.7+, standard library only). The cache is a directory (a
local one, or a shared one mounted where the runner runs); its entries are laid out as
:mod:`dflow.runner.cacheentries` says, with remembered content digests of big input files
under ``digests/``. What goes into a key: docs/cache.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import stat
import sys
import time
import uuid
from typing import Any

from . import cacheentries as entries
from .locate import OP_FILES, named_otherwise

#: the version of the key record and of the entry layout; bump it to invalidate all entries
FORMAT = entries.FORMAT
#: parameter values longer than this are recorded as their digest (the key covers them alike)
_SHOWN = 200
#: files from this size on have their digest memoised
_MEMO_FROM = 1 << 20


@dataclasses.dataclass
class CacheSpec:
    """How one run uses the cache: ``root`` (the directory, or ``s3://``, ``oss://`` or
    ``gs://bucket/prefix`` with its ``endpoint`` and ``region``), ``run`` (the workflow id),
    ``step`` (the step's identity across runs: workflow name and step path), ``fields`` (template fields in the key: image,
    command, executor; the same on every engine). Never credentials: engines write the spec
    into scripts and manifests."""

    root: str
    run: str = ""
    step: str = ""
    fields: dict = dataclasses.field(default_factory=dict)
    endpoint: str = ""
    region: str = ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CacheSpec:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("root"), str):
            raise ValueError("a cache spec is a JSON object with a 'root' directory")
        names = ("root", "run", "step", "fields", "endpoint", "region")
        return cls(**{k: data[k] for k in names if k in data})


_STORES: dict = {}


def open_store(spec: CacheSpec) -> Any:
    """The entries of the spec's location (one per process: an S3 store keeps its connection);
    raises ``CacheLocationError`` for a location the runner cannot use."""
    ident = (spec.root, spec.endpoint, spec.region)
    if ident not in _STORES:
        if "://" in spec.root:
            from .cacheobj import open_bucket

            _STORES[ident] = open_bucket(spec.root, spec.endpoint, spec.region)
        else:
            _STORES[ident] = entries.DirStore(spec.root)
    return _STORES[ident]


def adopt_store(spec: CacheSpec, store: Any) -> None:
    """Make ``store`` what :func:`open_store` gives for the spec's location in this process:
    an engine that holds the credentials in its settings, not in its environment (which the
    user's scripts inherit), opens the bucket itself (docs/cache.md)."""
    _STORES[(spec.root, spec.endpoint, spec.region)] = store


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces; paths as strings, sets sorted, other objects
    by their repr."""
    return _CANONICAL.encode(obj)


def _plain(obj: Any) -> Any:
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=canonical)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return {"__repr__": repr(obj)}


# built once, as ``json.dumps(..., default=_plain)`` would build it on every call
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_plain)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- content digests ------------------------------------------------------------------------


_hash_file = entries.hash_file


class Digests:
    """File content digests memoised by (device, inode, size, mtime): a file handed on from
    step to step by link or rename is read once, when it is first seen."""

    def __init__(self, memo_dir: str | None) -> None:
        self.dir = memo_dir  # None: nothing memoised

    def _memo(self, st: os.stat_result) -> str:
        assert self.dir is not None  # callers check
        ident = sha256_text(f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
        return os.path.join(self.dir, ident[:2], ident)

    def file(self, path: str) -> str:
        st = os.stat(path)
        if st.st_size < _MEMO_FROM or self.dir is None:
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
        if self.dir is None:
            return
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
_MAIN_SOURCES: dict = {}

#: the module part of the keyed name of an OP defined in a script (``__main__``) or loaded
#: from an OP file: such a module's name differs where the OP runs (``__main__`` in the
#: user's process, a name made from the shipped file in a pod or job), its code does not
SCRIPT_OP = "<script>"


def op_identity(op_class: type) -> tuple[str, str | None]:
    """The name and source digest the key takes for the OP ``op_class``; the digest is None
    when no source can be found (never cached). One rule on every engine, in pods and jobs:

    * an OP of an importable module: ``module.qualname``, the digest of the module's file;
    * an OP of a script or notebook (``__main__``): ``<script>.qualname``, the digest of the
      code shipped to a pod for it (:func:`dflow.shipping.mainsource.main_source`);
    * an OP loaded from a shipped file (:func:`.locate.load_op_file`): ``<script>.qualname``,
      the digest of the file (:func:`shipped_op_identity`), so the two above meet;
    * an OP of a module imported from a file not named after it (``spec_from_file_location``
      under another name): ``<script>.qualname``, the digest of that file, which is what a
      pod loads it from (the renderer cannot ship it under its name).
    """
    module = op_class.__module__
    if module == "__main__":
        digest = _main_source_digest(op_class)
        if digest is not None:
            return f"{SCRIPT_OP}.{op_class.__qualname__}", digest
    else:
        digest = OP_FILES.get(module)
        if digest is None and named_otherwise(module):
            digest = op_source_digest(op_class)
        if digest is not None:
            return f"{SCRIPT_OP}.{op_class.__qualname__}", digest
    return f"{module}.{op_class.__qualname__}", op_source_digest(op_class)


def shipped_op_identity(qualname: str, data: bytes) -> tuple[str, str]:
    """:func:`op_identity` of the OP ``qualname`` of a file shipped with bytes ``data``:
    what a renderer computes from the file it ships (:mod:`.cacheop`)."""
    return f"{SCRIPT_OP}.{qualname}", hashlib.sha256(data).hexdigest()


def _main_source_digest(op_class: type) -> str | None:
    # memoised per class: a worker keys many slices of one OP, and a script's code (so the
    # selection shipped for it) does not change under the process that runs it
    if op_class not in _MAIN_SOURCES:
        from ..shipping.mainsource import SourceError, main_source

        try:
            text = main_source(op_class).text
        except SourceError:  # it cannot be shipped either: keyed by the whole script
            _MAIN_SOURCES[op_class] = None
        else:
            _MAIN_SOURCES[op_class] = shipped_op_identity("", text.encode("utf-8"))[1]
    return _MAIN_SOURCES[op_class]


def op_source_digest(op_class: type) -> str | None:
    """The digest of the source of the module defining the OP (the class or function and the
    helpers beside it), else of the class alone; None when no source can be found. The key
    takes :func:`op_identity`, which uses this for an OP of an importable module."""
    module = sys.modules.get(op_class.__module__)
    path = getattr(module, "__file__", None)
    st = _stat(path) if path and not path.endswith((".pyc", ".so", ".pyd")) else None
    if path and st is not None and stat.S_ISREG(st.st_mode):
        memo = (path, st.st_size, st.st_mtime_ns)
        if memo not in _SOURCES:  # a worker runs many slices of one OP
            with open(path, "rb") as f:
                _SOURCES[memo] = hashlib.sha256(f.read()).hexdigest()
        return _SOURCES[memo]
    try:
        return sha256_text(inspect.getsource(op_class))
    except (OSError, TypeError):
        return None


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
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
    source: str | None = None,
) -> dict | None:
    """What determines the result of running ``op_class`` on ``op_ins`` (one per slice of a
    group; one for a plain run). None when the OP's source cannot be found (never cached).
    ``source``: its digest computed where the OP was at hand (:mod:`.cacheop`), when
    ``op_class`` is a stand-in named as that OP is keyed."""
    if source is not None:
        op_name = f"{op_class.__module__}.{op_class.__qualname__}"
    else:
        op_name, source = op_identity(op_class)
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
        "op": {"name": op_name, "source": source},
        "template": spec.fields,
        "slice": list(slice_index) if group else slice_index,
        "parameters": params,
        "artifacts": arts,
    }


def key_of(record: dict) -> str:
    """The key of ``record``; a :class:`~.cacheentries.KeyRecord` keeps the text keyed."""
    text = canonical(record)
    if isinstance(record, entries.KeyRecord):
        record.text = text
    return sha256_text(text)


# -- entries ---------------------------------------------------------------------------------


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    entries.write_file(tmp, text)
    os.replace(tmp, path)


def publish(
    spec: CacheSpec,
    key: str,
    record: dict,
    outputs_dir: str,
    store: Any = None,
    listed: dict | None = None,
) -> dict | None:
    """Store ``outputs_dir`` as the entry of ``key``; the published manifest (ours, or the one
    a concurrent writer published first), or None when the cache cannot be written.
    ``listed``: the files in ``outputs_dir`` as the runner wrote them (see
    :func:`.cacheentries.scan_and_store`)."""
    store = store or open_store(spec)
    try:
        files = store.scan_and_store(outputs_dir, listed)
    except OSError:
        return None
    manifest = {
        "format": entries.FORMAT,
        "key": key,
        "record": record,
        "files": files,
        "size": sum(m.get("size", 0) for m in files.values()),
        "run": spec.run,
        "step": spec.step,
        "created": entries.now(),
    }
    return store.publish_manifest(key, manifest)


def record_history(
    spec: CacheSpec, key: str, record: dict | None, outcome: dict, store: Any = None
) -> None:
    """Append one record of this run of the step (what ``dflow explain`` compares)."""
    if not spec.step:
        return
    entry: dict[str, Any] = {"step": spec.step, "run": spec.run, "key": key, "record": record}
    entry["created"] = time.time_ns()
    entry.update(outcome)
    (store or open_store(spec)).append_history(spec.step, entry)


@dataclasses.dataclass
class Lookup:
    """The cache's answer for one run: ``reused`` (outputs restored) or not, and why."""

    spec: CacheSpec
    key: str = ""
    record: dict | None = None
    reused: bool = False
    why: str = ""
    digests: Digests | None = None
    store: Any = None
    source_run: str = ""  # of a reused entry: the run that computed it


def lookup(
    spec: CacheSpec,
    op_class: type,
    names: list,
    artifact_names: set,
    op_ins: list,
    art_roots: dict,
    slice_index: Any,
    outputs_dir: str,
    probe: bool = False,
    source: str | None = None,
) -> Lookup:
    """Key this run; restore the outputs of a sound entry of its key into ``outputs_dir``.
    ``probe``: an engine's check before scheduling, silent (it may run in a thread of the
    engine), which leaves a damaged entry to the runner's own check (which says why, and
    replaces it)."""
    try:
        where = open_store(spec)
    except ValueError as exc:  # CacheLocationError: the step runs, uncached
        if not probe:
            note(f"not cached: {exc}")
        return Lookup(spec, why=str(exc))
    digests = Digests(where.digests_dir)
    record = key_record(
        spec, op_class, names, artifact_names, op_ins, art_roots, slice_index, digests, source
    )
    if record is None:
        note(f"not cached: the source of OP {op_class.__qualname__} cannot be found")
        return Lookup(spec, why="no OP source")
    return settle(spec, record, digests, where, lambda m: where.restore(m, outputs_dir), probe)


def settle(
    spec: CacheSpec,
    record: dict,
    digests: Digests,
    where: Any,
    restore: Any,
    probe: bool,
) -> Lookup:
    """Look up ``record``'s key in ``where``; a sound entry is restored by ``restore(manifest)``
    (returns why it could not, or ""), recorded in the history and reported. A damaged entry
    is discarded unless ``probe``. Shared by OP and script steps."""
    record = entries.KeyRecord(record)  # serialised once: for the key, the entry, the history
    key = key_of(record)
    manifest, why = where.read_manifest(key)
    if manifest is not None:
        why = restore(manifest)
        if not why:
            if not probe:  # a probing engine says it itself, where it logs the step
                note(f"reused from run {manifest.get('run')} (key {key[:12]})")
            outcome = {
                "outcome": "reused",
                "source_run": manifest.get("run"),
                "source_step": manifest.get("step"),
            }
            record_history(spec, key, record, outcome, where)
            found = Lookup(spec, key, record, True, "", digests, where)
            found.source_run = str(manifest.get("run") or "")
            return found
    if why != "missing" and not probe:
        note(f"entry {key[:12]} ignored: {why}; the step runs and rewrites it")
        where.discard(key)
    return Lookup(spec, key, record, False, why, digests, where)


def store(lk: Lookup, outputs_dir: str, ok: bool, listed: dict | None = None) -> None:
    """After the run: publish its outputs when it succeeded; record it for ``explain``.
    ``listed``: as in :func:`publish`."""
    if not lk.key or lk.reused or lk.digests is None:
        return
    if not ok:
        outcome = {"outcome": "failed", "lookup": lk.why}
        record_history(lk.spec, lk.key, lk.record, outcome, lk.store)
        return
    manifest = publish(lk.spec, lk.key, lk.record or {}, outputs_dir, lk.store, listed)
    if manifest is None:
        note(f"cannot write the entry of key {lk.key[:12]} under {lk.spec.root}")
    outcome = {"outcome": "computed", "lookup": lk.why}
    record_history(lk.spec, lk.key, lk.record, outcome, lk.store)


def note(text: str) -> None:
    """A line in the step's log."""
    print(f"[dflow cache] {text}", file=sys.stderr, flush=True)

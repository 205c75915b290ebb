"""The cache as a user manages it: list, show and prune entries; size accounting (a
directory or an ``s3://`` location alike)."""

from __future__ import annotations

import time
from typing import Any

import attrs

from ..runner.cacheentries import DirStore

#: objects linked this recently may belong to an entry whose manifest is being written
_GRACE = 600.0


@attrs.frozen
class CacheEntry:
    """One entry: its key, the run and step that computed it, its size, whether it is sound."""

    key: str
    step: str
    run: str
    size: int
    created: float
    problem: str = ""  # why the entry is unusable ("" for a sound one)


def _store(root: str) -> Any:
    """The entries at ``root``: a directory, or an ``s3://`` location (reached with the
    configured storage's endpoint and credentials)."""
    if "://" in root:
        from .settings import object_store

        return object_store(root)
    return DirStore(root)


def list_entries(root: str) -> list[CacheEntry]:
    """Every entry under ``root``, oldest first (damaged ones with their ``problem``)."""
    entries = []
    store = _store(root)
    for key in store.keys():
        manifest, why = store.read_manifest(key)
        if manifest is None:
            entries.append(CacheEntry(key, "", "", 0, 0.0, why))
            continue
        entries.append(
            CacheEntry(
                key,
                str(manifest.get("step", "")),
                str(manifest.get("run", "")),
                int(manifest.get("size", 0)),
                float(manifest.get("created", 0.0)),
            )
        )
    return sorted(entries, key=lambda e: e.created)


def show_entry(root: str, key: str) -> dict:
    """The manifest of the entry whose key starts with ``key``."""
    store = _store(root)
    matches = [k for k in store.keys() if k.startswith(key)]
    if len(matches) != 1:
        found = "no entry" if not matches else f"{len(matches)} entries"
        raise LookupError(
            f"{found} in {root} has a key starting with {key!r}; `dflow cache ls` lists them"
        )
    manifest, why = store.read_manifest(matches[0])
    if manifest is None:
        raise LookupError(f"entry {matches[0]} in {root} is unusable: {why}")
    return manifest


def disk_usage(root: str) -> int:
    """Bytes of the objects (each stored once, however many entries share it)."""
    return sum(size for _sha, size, _when in _store(root).objects())


def _collect_garbage(store: Any) -> None:
    """Remove the objects no entry refers to (but not ones stored in the last minutes)."""
    used = set()
    for key in store.keys():
        manifest, _why = store.read_manifest(key)
        if manifest is not None:
            used |= {m["sha256"] for m in manifest["files"].values() if m.get("kind") == "file"}
    now = time.time()
    for sha, _size, when in store.objects():
        if sha not in used and now - when > _GRACE:
            store.drop_object(sha)


def prune(
    root: str, older_than: float | None = None, max_size: int | None = None
) -> list[CacheEntry]:
    """Remove damaged entries, entries older than ``older_than`` seconds, then the oldest
    until the sound ones total at most ``max_size`` bytes, then the objects no entry uses;
    return the entries removed."""
    now = time.time()
    removed: list[CacheEntry] = []
    kept: list[CacheEntry] = []
    for entry in list_entries(root):
        too_old = older_than is not None and now - entry.created > older_than
        (removed if entry.problem or too_old else kept).append(entry)
    if max_size is not None:
        total = sum(e.size for e in kept)
        while kept and total > max_size:
            oldest = kept.pop(0)
            total -= oldest.size
            removed.append(oldest)
    store = _store(root)
    for entry in removed:
        store.discard(entry.key)
    _collect_garbage(store)
    return removed

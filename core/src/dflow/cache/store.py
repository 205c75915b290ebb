"""The cache directory as a user manages it: list, show and prune entries; size accounting."""

from __future__ import annotations

import os
import time

import attrs

from ..runner.cacheentries import discard, object_path, read_manifest

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


def _keys(root: str) -> list[str]:
    base = os.path.join(root, "entries")
    keys = []
    for shard in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        shard_dir = os.path.join(base, shard)
        if os.path.isdir(shard_dir):
            keys += sorted(n[:-5] for n in os.listdir(shard_dir) if n.endswith(".json"))
    return keys


def list_entries(root: str) -> list[CacheEntry]:
    """Every entry under ``root``, oldest first (damaged ones with their ``problem``)."""
    entries = []
    for key in _keys(root):
        manifest, why = read_manifest(root, key)
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
    matches = [k for k in _keys(root) if k.startswith(key)]
    if len(matches) != 1:
        found = "no entry" if not matches else f"{len(matches)} entries"
        raise LookupError(
            f"{found} in {root} has a key starting with {key!r}; `dflow cache ls` lists them"
        )
    manifest, why = read_manifest(root, matches[0])
    if manifest is None:
        raise LookupError(f"entry {matches[0]} in {root} is unusable: {why}")
    return manifest


def disk_usage(root: str) -> int:
    """Bytes of the objects (each stored once, however many entries share it)."""
    total = 0
    for dirpath, _dirs, files in os.walk(os.path.join(root, "objects")):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _collect_garbage(root: str) -> None:
    """Remove the objects no entry refers to (but not ones linked in the last minutes)."""
    used = set()
    for key in _keys(root):
        manifest, _why = read_manifest(root, key)
        if manifest is not None:
            used |= {m["sha256"] for m in manifest["files"].values() if m.get("kind") == "file"}
    now = time.time()
    base = os.path.join(root, "objects")
    for dirpath, _dirs, files in os.walk(base):
        for name in files:
            path = os.path.join(dirpath, name)
            if name in used or path != object_path(root, name):
                continue
            try:
                if now - os.lstat(path).st_ctime > _GRACE:
                    os.unlink(path)
            except OSError:
                pass


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
    for entry in removed:
        discard(root, entry.key)
    _collect_garbage(root)
    return removed

"""The cache directory as a user manages it: list, show and prune entries; size accounting."""

from __future__ import annotations

import os
import shutil
import time
import uuid

import attrs

from ..runner.cache import entry_dir, read_manifest


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
            keys.extend(sorted(os.listdir(shard_dir)))
    return keys


def _disk_size(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def list_entries(root: str) -> list[CacheEntry]:
    """Every entry under ``root``, oldest first (damaged ones with their ``problem``)."""
    entries = []
    for key in _keys(root):
        manifest, why = read_manifest(root, key)
        if manifest is None:
            path = entry_dir(root, key)
            created = os.path.getmtime(path) if os.path.exists(path) else 0.0
            entries.append(CacheEntry(key, "", "", _disk_size(path), created, why))
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


def _remove(root: str, key: str) -> None:
    trash = os.path.join(root, "tmp", f"prune-{uuid.uuid4().hex}")
    os.makedirs(os.path.dirname(trash), exist_ok=True)
    try:
        os.rename(entry_dir(root, key), trash)  # readers never see half an entry
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def prune(
    root: str, older_than: float | None = None, max_size: int | None = None
) -> list[CacheEntry]:
    """Remove damaged entries, entries older than ``older_than`` seconds, then the oldest
    until the sound ones total at most ``max_size`` bytes; return what was removed."""
    now = time.time()
    removed = []
    kept = []
    for entry in list_entries(root):
        too_old = older_than is not None and now - entry.created > older_than
        if entry.problem or too_old:
            removed.append(entry)
        else:
            kept.append(entry)
    if max_size is not None:
        total = sum(e.size for e in kept)
        while kept and total > max_size:
            oldest = kept.pop(0)
            total -= oldest.size
            removed.append(oldest)
    for entry in removed:
        _remove(root, entry.key)
    return removed

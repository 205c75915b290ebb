"""The ``dflow`` entry points installed, remembered between processes.

Asking ``importlib.metadata`` costs a process 15-30 ms on the machines here: importing it (its
``email`` parser) and reading every installed distribution's ``entry_points.txt`` and
``METADATA``. Every ``submit()`` and every ``dflow`` command pays that before doing anything,
for an answer that changes only when something is installed. So the answer is kept in
``$XDG_CACHE_HOME/dflow/entry-points/`` (``~/.cache/...``), one file per interpreter and
``sys.path``, with a fingerprint of what the search reads: the name of every ``*.dist-info``
and ``*.egg-info`` on ``sys.path`` and the size and mtime of its ``entry_points.txt``.
Installing, removing, upgrading or re-installing a distribution changes the fingerprint, and
so does editing an ``entry_points.txt``; then the search runs again and the file is rewritten.
(stevedore keeps entry points the same way, keyed by ``sys.path`` and modification times.)

Only ``sys.path`` is fingerprinted: a distribution that only a custom ``sys.meta_path`` finder
reports is seen by ``dflow plugins``, which always searches afresh, and by the next search
the fingerprint triggers. The cache is best effort: a file that cannot be read or written is
ignored.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import sys
from typing import Any

import attrs

_CORE = "dflow-core"
_FORMAT = 1
_KEEP = 64  # cache files kept (one per interpreter and sys.path)
#: the entry point value syntax (module, optional ``:attr.path``, optional ``[extras]``)
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


@attrs.frozen
class FoundEntryPoint:
    """An entry point of the group: its name, ``module:attr`` and distribution."""

    name: str
    value: str
    distribution: str
    version: str

    def load(self) -> Any:
        """Import the module and return the object the value names (as
        ``importlib.metadata.EntryPoint.load`` does)."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point '{self.name}': {self.value!r} is not module:attr")
        obj: Any = importlib.import_module(match.group("module"))
        for part in (match.group("attr") or "").split("."):
            if part:
                obj = getattr(obj, part)
        return obj


@attrs.frozen
class Installed:
    """What the search found: the group's entry points and dflow-core's version."""

    entry_points: tuple[FoundEntryPoint, ...]
    core_version: str
    from_cache: bool = False


def installed(group: str, *, fresh: bool = False) -> Installed:
    """The entry points of ``group`` and dflow-core's version: from the cache when its
    fingerprint still holds, else searched (``fresh=True``: always) and cached."""
    entries = [os.path.abspath(entry or ".") for entry in sys.path]  # "": the working dir
    path = _cache_file(group, entries)
    fingerprint = _fingerprint(entries)
    if not fresh and path is not None:
        cached = _read(path, fingerprint)
        if cached is not None:
            return cached
    found = _search(group)
    if path is not None:
        _write(path, fingerprint, found)
    return found


def _search(group: str) -> Installed:
    from importlib import metadata

    points = []
    for ep in metadata.entry_points(group=group):
        dist = ep.dist
        points.append(
            FoundEntryPoint(
                ep.name,
                ep.value,
                dist.name if dist is not None else "unknown distribution",
                dist.version if dist is not None else "unknown",
            )
        )
    try:
        core = metadata.version(_CORE)
    except metadata.PackageNotFoundError:
        core = "unknown"
    return Installed(tuple(sorted(points, key=lambda p: p.name)), core)


def _fingerprint(entries: list[str]) -> str:
    digest = hashlib.sha256()
    for where in entries:
        digest.update(f"\0{where}\0".encode())
        try:
            names = os.listdir(where)
        except NotADirectoryError:  # a zip or an egg file
            try:
                st = os.stat(where)
                digest.update(f"file:{st.st_size}:{st.st_mtime_ns}".encode())
            except OSError:
                pass
            continue
        except OSError:
            continue
        for name in sorted(n for n in names if n.endswith((".dist-info", ".egg-info"))):
            try:
                st = os.stat(os.path.join(where, name, "entry_points.txt"))
                digest.update(f"{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
            except OSError:
                digest.update(f"{name}:-\n".encode())
    return digest.hexdigest()


def _cache_file(group: str, entries: list[str]) -> str | None:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(root):
        return None  # no home to speak of
    which = "\0".join([sys.executable, sys.version, group, *entries])
    name = hashlib.sha256(which.encode()).hexdigest()[:24]
    return os.path.join(root, "dflow", "entry-points", name + ".json")


def _read(path: str, fingerprint: str) -> Installed | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("format") != _FORMAT or data.get("fingerprint") != fingerprint:
            return None
        points = tuple(FoundEntryPoint(**p) for p in data["entry_points"])
        return Installed(points, str(data["core_version"]), from_cache=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: str, fingerprint: str, found: Installed) -> None:
    data = {
        "format": _FORMAT,
        "fingerprint": fingerprint,
        "core_version": found.core_version,
        "entry_points": [attrs.asdict(p) for p in found.entry_points],
    }
    from ..storage.transfer import atomic_file  # on a miss only: not every process's import

    try:
        with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)  # readers see the old file or the new one, never half of one
    except OSError:
        return
    _trim(os.path.dirname(path))


def _trim(folder: str, keep: int = _KEEP) -> None:
    """Remove all but the ``keep`` newest files: each new ``sys.path`` (a test's temporary
    site dir, a script run from a new folder) adds one. Another writer's temporary file is
    not one of them."""
    from ..storage.transfer import TMP_PREFIX

    try:
        with os.scandir(folder) as it:
            files = [
                (e.stat().st_mtime_ns, e.path)
                for e in it
                if e.name.endswith(".json") and not e.name.startswith(TMP_PREFIX)
            ]
    except OSError:
        return
    for _, old in sorted(files, reverse=True)[keep:]:
        try:
            os.unlink(old)
        except OSError:
            pass

"""The file system's own cost of a fan-out's layout: a slice's step dir, made N times, without dflow.

A fan-out run leaves one step dir per slice (pydflow's layout: for ``workloads/fanout.py`` 16
dirs, 6 new files, 7 hard links, 2 symlinks) and a link per slice in the stacked output. This module records the
shape of one slice's dir as the run left it (:func:`shape`) and makes that shape N times in a
fresh dir on the same file system, in one process, timing each tenth (:func:`replay`). On
tmpfs the cost per slice stays flat to 100,000; on ext4 it may not (the kernel's dentry and
inode caches, its writeback), and then neither can the engine's: ``fanout_scaling.py
--fs-baseline`` prints the replay's growth beside the run's.

    python benchmarks/_layout_replay.py <run dir> N <dest dir>     # prints a JSON line
    python benchmarks/_layout_replay.py <shape.json> N <dest dir>  # a shape saved before

Not run by ``run_all.py`` on its own (a leading underscore): it is a baseline, not a benchmark.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import sys
import time
from pathlib import Path

#: hard links per shared source before a new one (ext4 allows 65,000 links to an inode)
LINKS_PER_SOURCE = 5_000


def slice_dirs(run_dir: Path) -> tuple[Path, list[Path]]:
    """The workflow dir under ``run_dir`` and its fan-out's step dirs (the most common name
    prefix among the step dirs holding a ``phase`` file)."""
    [wf] = [p for p in run_dir.iterdir() if (p / "journal.db").exists()]
    steps = [p for p in wf.iterdir() if (p / "phase").is_file()]
    by_prefix = collections.defaultdict(list)
    for p in steps:
        by_prefix[p.name.rsplit("-", 1)[0]].append(p)
    return wf, max(by_prefix.values(), key=len)


def shape(run_dir: Path) -> dict:
    """One slice's step dir as entries (relative path, kind, size) and the links per slice in
    the stacked outputs (``.groups``)."""
    wf, slices = slice_dirs(run_dir)
    one = sorted(slices)[len(slices) // 2]
    entries = []
    seen: dict[int, str] = {}  # inode -> first path of a file linked within the slice
    walked = [(os.path.join(dp, n), dp) for dp, dns, fns in os.walk(one) for n in dns + fns]
    inside = collections.Counter(os.lstat(p).st_ino for p, _ in walked)
    for path, _ in sorted(walked):
        st = os.lstat(path)
        rel = os.path.relpath(path, one)
        if os.path.islink(path):
            target = os.readlink(path)
            entries.append(
                [rel, "symlink", os.path.relpath(target, one) if target[0] == "/" else target]
            )
        elif os.path.isdir(path):
            entries.append([rel, "dir", 0])
        elif st.st_nlink > inside[st.st_ino]:  # a text many steps share (``name``, ``pid``)
            entries.append([rel, "shared", st.st_size])
        elif st.st_ino in seen:  # an output linked to the OP's file, within the slice
            entries.append([rel, "link", seen[st.st_ino]])
        else:
            seen[st.st_ino] = rel
            entries.append([rel, "file", st.st_size])
    stacked = 0
    for d in (wf / ".groups").glob("*/outputs/artifacts/*"):
        stacked += sum(1 for e in os.scandir(d) if e.is_symlink())
    return {"entries": entries, "stacked_per_slice": round(stacked / max(1, len(slices)))}


def _make(dest: str, i: int, entries: list, shared: str, stack: str, stacked: int) -> None:
    d = os.path.join(dest, f"slice-{i:07d}")
    os.mkdir(d)
    for rel, kind, arg in entries:
        path = os.path.join(d, rel)
        if kind == "dir":
            os.mkdir(path)
        elif kind == "shared":
            os.link(shared, path)
        elif kind == "link":
            os.link(os.path.join(d, arg), path)
        elif kind == "symlink":
            os.symlink(arg if arg.startswith("..") else os.path.join(d, arg), path)
        else:
            with open(path, "w") as f:
                f.write("x" * arg)
    for k in range(stacked):
        os.symlink(d, os.path.join(stack, f"{i}-{k}"))


def replay(entries: list, n: int, dest: str, stacked: int = 0) -> dict:
    """Make ``n`` copies of a slice's dir under ``dest``; seconds (wall, CPU) per tenth."""
    # a dir before what it holds, a file before its links (sorted paths put "a" before
    # "a/b"; a link's source may sort after it)
    entries = sorted(entries, key=lambda e: (e[1] == "link", e[0]))
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(os.path.join(dest, "stack"))
    tenth = max(1, n // 10)
    walls, cpus = [], []
    shared = ""
    for start in range(0, n, tenth):
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(start, min(n, start + tenth)):
            if i % LINKS_PER_SOURCE == 0:
                shared = os.path.join(dest, f"shared-{i}")
                with open(shared, "w") as f:
                    f.write("x")
            _make(dest, i, entries, shared, os.path.join(dest, "stack"), stacked)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"n": n, "seconds": sum(walls), "cpu": sum(cpus), "tenths": walls, "cpu_tenths": cpus}


def main(argv: list[str]) -> int:
    source, n, dest = Path(argv[0]), int(argv[1]), argv[2]
    got = json.loads(source.read_text()) if source.is_file() else shape(source)
    out = replay(got["entries"], n, dest, got["stacked_per_slice"])
    out["objects_per_slice"] = len(got["entries"]) + 1 + got["stacked_per_slice"]
    shutil.rmtree(dest, ignore_errors=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

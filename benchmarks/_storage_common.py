"""Shared pieces of the storage benchmarks (not a benchmark itself: run_all skips ``_*.py``).

- :func:`timed`: the best wall time of a few runs.
- :func:`write_large_file` / :func:`write_small_tree`: the data sets of the storage issue, 1 GiB
  as one file and as 10,000 files (in sub-directories of 1,000) of incompressible bytes.
- :class:`CpuMeter`: CPU seconds of this process and of a server process over a block, so a
  report can say whether the client, the server or the two cores were the limit.
- :func:`print_table`: rows of ``(workload, plugin MB/s, baseline MB/s, baseline name)``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB
#: 10,000 of these make 1 GiB
SMALL_FILE_SIZE = GiB // 10_000


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` runs: the machine is shared, the minimum is least noisy."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def write_large_file(path: Path, size: int) -> None:
    """``size`` incompressible bytes, each MiB distinct (no dedup can flatter a store)."""
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        for i in range(0, size, MiB):
            f.write((i.to_bytes(8, "big") + block[8:])[: min(MiB, size - i)])


def write_small_tree(root: Path, count: int, size: int = SMALL_FILE_SIZE) -> list[Path]:
    """``count`` files of ``size`` random bytes under ``root/dNN/fNNNNN.bin``; sorted paths."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        sub = root / f"d{i // 1000:02d}"
        sub.mkdir(exist_ok=True)
        path = sub / f"f{i:05d}.bin"
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent by this process and by ``server_pid`` inside ``with meter:`` blocks.

    After a block: ``wall``, ``client`` and ``server`` hold that block's seconds. ``bound``
    is the shortest wall time two cores allow for the same CPU work (``(client + server) /
    cores``): a run close to it was limited by the machine, not by waiting.
    """

    def __init__(self, server_pid: int | None, cores: int | None = None) -> None:
        self.server_pid = server_pid
        self.cores = cores or os.cpu_count() or 1
        self.wall = self.client = self.server = 0.0

    def __enter__(self) -> CpuMeter:
        self._t = time.perf_counter()
        self._c = os.times()
        self._s = _process_cpu(self.server_pid) if self.server_pid else 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t
        now = os.times()
        self.client = (now.user - self._c.user) + (now.system - self._c.system)
        self.server = (_process_cpu(self.server_pid) - self._s) if self.server_pid else 0.0

    @property
    def bound(self) -> float:
        return (self.client + self.server) / self.cores

    def describe(self, objects: int) -> str:
        """CPU per object of client and server, e.g. for a footnote under a table."""
        per = 1e3 / max(objects, 1)
        return (
            f"wall {self.wall * per:.2f} ms/object; CPU client {self.client * per:.2f} + "
            f"server {self.server * per:.2f} ms/object"
        )


def print_table(title: str, rows: list[tuple[str, float, float, str]]) -> None:
    """Rows of (workload, plugin MB/s, baseline MB/s, what the baseline is), with the ratio."""
    print(title)
    print(f"{'workload':<34}{'plugin MB/s':>12}{'baseline MB/s':>15}{'ratio':>7}  baseline")
    for name, ours, base, what in rows:
        print(f"{name:<34}{ours:>12.1f}{base:>15.1f}{ours / base:>7.2f}  {what}")

"""Small files written with os-level calls.

A text-mode ``open()`` costs a buffer and four system calls more than ``open``/``write``/
``close`` (``fstat``, ``ioctl``, two ``lseek``): per file that is little, but a fan-out writes
several files per slice. Shared by the runner (output parameters, catalogs) and the step cache.
"""

from __future__ import annotations

import os


def write_file(path: str, data: str | bytes, mode: int = 0o666) -> None:
    """Create or truncate ``path`` holding ``data`` (text as UTF-8), making its directory when
    it is missing (tried first: cheaper than checking)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags, mode)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, flags, mode)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)

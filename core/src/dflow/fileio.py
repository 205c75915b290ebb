"""Small files written and read with os-level calls.

A text-mode ``open()`` costs a buffer and four or five system calls more than ``open``/
``write``/``close`` (``fstat``, ``ioctl``, two ``lseek``; one more ``fstat`` to read): per file
that is little, but a fan-out writes and reads several files per slice. Shared by the runner
(input and output parameters, catalogs) and the step cache. Text is UTF-8, as the writers
write it, whatever the locale.
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


def read_file(path: str | os.PathLike) -> str:
    """The text of ``path`` (UTF-8) with its line ends made ``\\n``, as a text-mode
    ``open().read()`` gives it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    text = b"".join(chunks).decode("utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text

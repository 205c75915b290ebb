"""Fast ``.tgz`` archives for artifacts: parallel, adaptive gzip.

``tarfile``'s ``w:gz`` compresses on one core at about 50 MB/s even when the data cannot shrink
(simulation output in binary, already-compressed files), which made ``archive="tar"`` (dflow's
default) the slowest way to move a directory. :func:`write_tgz` instead cuts the tar stream
into blocks and deflates them on a thread pool (zlib releases the GIL), the way pigz does: each
block ends on a byte boundary (a sync flush, no final bit), so the blocks joined in order form
one deflate stream, framed by one gzip header and trailer. A piece whose samples do not
compress is stored (deflate level 0: a copy) instead of being squeezed for nothing.

The result is an ordinary single-member ``.tgz``: every reader takes it, including tarfile's
streaming mode (``r|gz``), which cannot read multi-member gzip files.
:func:`extract_archive` is the matching fast reader.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import io
import os
import struct
import tarfile
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, cast

#: bytes of tar stream per job on the pool: few enough jobs that scheduling costs nothing, and
#: a handful in flight per thread stay well under 100 MB
BLOCK = 4 * 1024 * 1024
#: each job is cut into pieces that are compressed or stored on their own, so a directory
#: mixing text and binary files gets the right treatment for each region
PIECE = 64 * 1024
#: the head and the tail of each piece are test-compressed together; a piece is stored when
#: they do not shrink below this ratio (a piece often spans a binary file's end and a text
#: file's start: either half compressing well brings the pair below it)
SAMPLE = 2 * 1024
STORE_ABOVE = 0.9


def _compressible(piece: memoryview) -> bool:
    # head and tail in one probe: starting a zlib stream costs more than compressing 4 KiB
    sample = b"".join((piece[:SAMPLE], piece[-SAMPLE:]))
    return len(zlib.compress(sample, 1, -15)) <= STORE_ABOVE * len(sample)


def deflate_block(data: bytes, level: int = 1) -> bytes:
    """Raw deflate of ``data`` ending in a sync flush; incompressible pieces are stored."""
    out: list[bytes | memoryview] = []
    view = memoryview(data)
    current = None
    for start in range(0, len(data), PIECE):
        piece = view[start : start + PIECE]
        if len(piece) <= 2 * SAMPLE or _compressible(piece):
            if current is None:
                current = zlib.compressobj(level, zlib.DEFLATED, -15)
            out.append(current.compress(piece))
            continue
        if current is not None:  # end the compressed run on a byte boundary
            out.append(current.flush(zlib.Z_SYNC_FLUSH))
            current = None
        out.extend(_stored(piece))
    if current is not None:
        out.append(current.flush(zlib.Z_SYNC_FLUSH))
    return b"".join(out)


def _stored(piece: memoryview) -> list[bytes | memoryview]:
    """``piece`` as deflate stored blocks (RFC 1951 3.2.4), built directly: zlib's level 0
    copies through its window at a third of memcpy speed."""
    parts: list[bytes | memoryview] = []
    for start in range(0, len(piece), 0xFFFF):
        chunk = piece[start : start + 0xFFFF]
        n = len(chunk)
        parts += (struct.pack("<BHH", 0, n, n ^ 0xFFFF), chunk)  # BFINAL=0, BTYPE=00
    return parts


#: gzip member header: magic, deflate, no flags, no mtime, no extra flags, OS unknown
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
#: an empty final deflate block (fixed Huffman), ending the stream
FINAL_BLOCK = b"\x03\x00"


class ParallelGzipWriter:
    """A write-only binary stream that gzips into ``out`` on ``workers`` threads, in order."""

    def __init__(self, out: IO[bytes], level: int = 1, workers: int | None = None) -> None:
        self._out = out
        self._level = level
        self._workers = workers or min(4, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="dflow-gzip")
        self._pending: collections.deque[Future[bytes]] = collections.deque()
        self._chunks: list[bytes] = []
        self._size = 0
        self._written = 0
        self._crc = 0
        self._closed = False
        out.write(GZIP_HEADER)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data)
        self._chunks.append(bytes(data))
        self._size += n
        self._written += n
        if self._size >= BLOCK:
            self._flush_block()
        return n

    def tell(self) -> int:
        """Uncompressed bytes written so far (tarfile asks)."""
        return self._written

    def _flush_block(self) -> None:
        block = b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        self._crc = zlib.crc32(block, self._crc)
        self._pending.append(self._pool.submit(deflate_block, block, self._level))
        # keep memory bounded: two blocks in flight per thread at most
        while len(self._pending) > 2 * self._workers:
            self._out.write(self._pending.popleft().result())

    def close(self) -> None:
        """Flush the last block, then write the trailer (``out`` itself stays open)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._chunks:
                self._flush_block()
            while self._pending:
                self._out.write(self._pending.popleft().result())
            self._out.write(FINAL_BLOCK + struct.pack("<II", self._crc, self._written & 0xFFFFFFFF))
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ParallelGzipWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:  # do not spend time compressing what will be thrown away
            self._closed = True
            self._pool.shutdown(wait=True, cancel_futures=True)


def write_tgz(src: str, arcname: str, dest: str | IO[bytes], level: int = 1) -> None:
    """Write the directory ``src`` as ``dest`` (a ``.tgz`` path or a writable stream), its
    content under ``arcname``.

    Symlinks are followed (the archive holds copies), like ``tar --dereference``.
    """
    with contextlib.ExitStack() as stack:
        f = stack.enter_context(open(dest, "wb")) if isinstance(dest, str) else dest
        gz = stack.enter_context(ParallelGzipWriter(f, level))
        # tarfile only writes and asks tell(); copying files in 1 MiB reads keeps it cheap
        # what open(mode="w") makes (typeshed's open lacks copybufsize); the writer has no
        # read/seek, which typeshed's file protocol asks for and mode "w" never uses
        with _WholeSecondTar(
            fileobj=cast(Any, gz), mode="w", dereference=True, copybufsize=1024 * 1024
        ) as tar:
            tar.add(src, arcname=arcname)


class _WholeSecondTar(tarfile.TarFile):
    """Modification times in whole seconds, as GNU tar stores them. A fractional mtime makes
    tarfile add a pax extended header to every member: a third more header work to write
    and to read, and 1 KiB more per file."""

    def gettarinfo(self, *args: Any, **kwargs: Any) -> tarfile.TarInfo:
        info = super().gettarinfo(*args, **kwargs)
        if info is not None:
            info.mtime = int(info.mtime)
        return info


#: files up to this size are read into memory and written by the pool; larger ones stream
#: through the reading thread (the pool never holds more than ``MAX_IN_FLIGHT`` bytes)
SMALL_MEMBER = 8 * 1024 * 1024
MAX_IN_FLIGHT = 64 * 1024 * 1024
#: threads writing extracted files. One: the reading thread holds the GIL most of the time, so
#: a second writer mostly waits for it (measured: same wall time, a third more CPU)
EXTRACT_WORKERS = 1


class GunzipReader(io.RawIOBase):
    """A gzip stream (one member or several, as ``cat a.gz b.gz`` makes) read in large chunks.

    :mod:`gzip` reads and CRCs 8 KiB at a time in Python, which cost more than a second per
    GiB; here zlib inflates 1 MiB reads and checks each member's CRC-32 and length itself.
    """

    CHUNK = 1024 * 1024
    #: inflate at most this much per call, so a zip bomb cannot fill memory
    OUT = 4 * 1024 * 1024

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._buf = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        d = self._inflate
        if d.eof:  # one member ended: the rest may be another member, or zero padding
            rest = d.unused_data.lstrip(b"\0")
            while not rest:
                rest = self._raw.read(self.CHUNK)
                if not rest:
                    self._done = True
                    return
                rest = rest.lstrip(b"\0")
            d = self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = rest
        else:
            data = d.unconsumed_tail or self._raw.read(self.CHUNK)
            if not data:
                raise EOFError(
                    "the gzip stream ended before its end-of-stream marker "
                    "(a truncated download or file)"
                )
        try:
            out = d.decompress(data, self.OUT)
        except zlib.error as exc:  # a wrong CRC-32 or length lands here too
            raise gzip.BadGzipFile(f"corrupt gzip data: {exc}") from exc
        self._buf = memoryview(bytes(self._buf) + out) if self._buf else memoryview(out)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [bytes(self._buf)]
            self._buf = memoryview(b"")
            while not self._done:
                self._fill()
                parts.append(bytes(self._buf))
                self._buf = memoryview(b"")
            return b"".join(parts)
        while len(self._buf) < size and not self._done:
            self._fill()
        out, self._buf = bytes(self._buf[:size]), self._buf[size:]
        return out

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


#: tarfile's streaming reader asks its file object for this much at a time (its default,
#: 10 KiB, means a Python call per 10 KiB)
TAR_READ = 256 * 1024


@contextlib.contextmanager
def open_tar_stream(src: str | IO[bytes]) -> Iterator[tarfile.TarFile]:
    """A tar archive (plain, gzip, bz2 or xz; a path or a readable stream) read front to back.

    gzip goes through :class:`GunzipReader` rather than tarfile's own ``r|gz``, which loops
    forever on a gzip file of several members (as ``cat a.gz b.gz`` makes).
    """
    with contextlib.ExitStack() as stack:
        raw: Any = stack.enter_context(open(src, "rb")) if isinstance(src, str) else src
        buffered = raw if hasattr(raw, "peek") else stack.enter_context(io.BufferedReader(raw))
        if buffered.peek(2)[:2] == b"\x1f\x8b":
            yield stack.enter_context(
                tarfile.open(fileobj=GunzipReader(buffered), mode="r|", bufsize=TAR_READ)
            )
        else:
            yield stack.enter_context(tarfile.open(fileobj=buffered, mode="r|*", bufsize=TAR_READ))


def extract_archive(src: str | IO[bytes], dest: str, workers: int | None = None) -> int:
    """Extract a tar archive (plain or gzip, a path or a readable stream) into ``dest``.

    Members pass tarfile's ``data`` filter (nothing outside ``dest``, no devices, sane
    modes), as ``extractall(filter="data")`` would. The archive is read once, front to back,
    while a worker thread writes the regular files: creating and filling a file costs more
    system time than decompressing it. Returns the number of files written.
    """
    dest = os.path.realpath(dest)
    os.makedirs(dest, exist_ok=True)
    workers = workers or EXTRACT_WORKERS
    trusted = {""}  # member directories checked to resolve inside dest
    gate = threading.BoundedSemaphore(MAX_IN_FLIGHT // SMALL_MEMBER)
    written = 0
    with (
        open_tar_stream(src) as tar,
        ThreadPoolExecutor(workers, thread_name_prefix="dflow-untar") as pool,
    ):
        pending: list[Future[None]] = []
        for member in tar:
            member = _data_filter(member, dest, trusted)
            target = os.path.join(dest, member.name)
            if member.isreg() and member.size <= SMALL_MEMBER:
                parent = member.name.rpartition("/")[0]
                if parent not in trusted:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    _trust(parent, dest, trusted)
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                gate.acquire()
                pending.append(pool.submit(_write_member, target, data, member, gate))
                written += 1
            elif member.isdir():
                os.makedirs(target, exist_ok=True)
                _trust(member.name, dest, trusted)
            else:  # large files, links: tarfile itself, in order (links may need earlier files)
                for done in pending:
                    done.result()
                pending.clear()
                if not member.isreg():  # a link can redirect a directory checked before
                    trusted.intersection_update({""})
                tar.extract(member, dest, set_attrs=True, filter="fully_trusted")
                written += member.isreg()
            if len(pending) > 4096:  # keep the list short; result() raises a failed write
                finished = [f for f in pending if f.done()]
                for f in finished:
                    f.result()
                pending = [f for f in pending if not f.done()]
        for done in pending:
            done.result()
    return written


def _data_filter(member: tarfile.TarInfo, dest: str, trusted: set[str]) -> tarfile.TarInfo:
    """``tarfile.data_filter``, skipping its two ``realpath()`` calls (nine ``lstat()``
    here, most of the CPU of an extraction of many small files) when they cannot change the
    answer: a small regular file, by a plain name, in a directory already checked.

    Such a file is written with ``O_NOFOLLOW``, so a symlink left at its place in ``dest``
    cannot redirect it either.
    """
    parent, _, base = member.name.rpartition("/")
    if not (
        member.isreg()
        and member.size <= SMALL_MEMBER
        and parent in trusted
        and base not in ("", ".", "..")
        and not member.name.startswith(("/", os.sep))
    ):
        return tarfile.data_filter(member, dest)
    mode = member.mode
    if mode is not None:  # the same mode rules as the data filter
        mode &= 0o755
        if not mode & 0o100:
            mode &= ~0o111
        mode |= 0o600
    # None unsets owner fields, as tarfile.data_filter does (typeshed types them as set)
    unset: dict[str, Any] = {"uid": None, "gid": None, "uname": None, "gname": None}
    return member.replace(mode=mode, **unset, deep=False)


def _trust(rel: str, dest: str, trusted: set[str]) -> None:
    real = os.path.realpath(os.path.join(dest, rel))
    if os.path.commonpath([real, dest]) == dest:
        trusted.add(rel)


_CREATE = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_TRUNC
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _write_member(
    path: str, data: bytes, member: tarfile.TarInfo, gate: threading.BoundedSemaphore
) -> None:
    try:
        fd = os.open(path, _CREATE, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if member.mode is not None:
                os.fchmod(fd, member.mode)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)
    finally:
        gate.release()


__all__ = [
    "GunzipReader",
    "ParallelGzipWriter",
    "deflate_block",
    "extract_archive",
    "open_tar_stream",
    "write_tgz",
]

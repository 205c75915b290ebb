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
from typing import IO

#: bytes of tar stream per job on the pool: few enough jobs that scheduling costs nothing, and
#: a handful in flight per thread stay well under 100 MB
BLOCK = 4 * 1024 * 1024
#: each job is cut into pieces that are compressed or stored on their own, so a directory
#: mixing text and binary files gets the right treatment for each region
PIECE = 64 * 1024
#: the head and the tail of each piece are test-compressed; a piece is stored when neither
#: shrinks below this ratio (pieces often span a binary file's end and a text file's start)
SAMPLE = 2 * 1024
STORE_ABOVE = 0.9


def _compressible(piece: memoryview) -> bool:
    for sample in (piece[:SAMPLE], piece[-SAMPLE:]):
        probe = zlib.compressobj(1, zlib.DEFLATED, -15)
        if len(probe.compress(sample)) + len(probe.flush()) <= STORE_ABOVE * SAMPLE:
            return True
    return False


def deflate_block(data: bytes, level: int = 1) -> bytes:
    """Raw deflate of ``data`` ending in a sync flush; incompressible pieces are stored."""
    out = []
    view = memoryview(data)
    current, current_level = None, -1
    for start in range(0, len(data), PIECE):
        piece = view[start : start + PIECE]
        piece_level = level if len(piece) <= 2 * SAMPLE or _compressible(piece) else 0
        if piece_level != current_level:
            if current is not None:
                out.append(current.flush(zlib.Z_SYNC_FLUSH))
            current, current_level = zlib.compressobj(piece_level, zlib.DEFLATED, -15), piece_level
        out.append(current.compress(piece))  # type: ignore[union-attr]
    if current is not None:
        out.append(current.flush(zlib.Z_SYNC_FLUSH))
    return b"".join(out)


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


def write_tgz(src: str, arcname: str, dest: str, level: int = 1) -> None:
    """Write the directory ``src`` as ``dest`` (a ``.tgz``), its content under ``arcname``.

    Symlinks are followed (the archive holds copies), like ``tar --dereference``.
    """
    with open(dest, "wb") as f, ParallelGzipWriter(f, level) as gz:
        # tarfile only writes and asks tell(); copying files in 1 MiB reads keeps it cheap
        with tarfile.open(fileobj=gz, mode="w", dereference=True,  # type: ignore[call-overload]
                          copybufsize=1024 * 1024) as tar:
            tar.add(src, arcname=arcname)


#: files up to this size are read into memory and written by the pool; larger ones stream
#: through the reading thread (the pool never holds more than ``MAX_IN_FLIGHT`` bytes)
SMALL_MEMBER = 8 * 1024 * 1024
MAX_IN_FLIGHT = 64 * 1024 * 1024
#: threads writing extracted files (measured: more threads only add contention on ext4)
EXTRACT_WORKERS = 2


@contextlib.contextmanager
def open_tar_stream(src: str | IO[bytes]) -> Iterator[tarfile.TarFile]:
    """A tar archive (plain, gzip, bz2 or xz; a path or a readable stream) read front to back.

    gzip goes through :mod:`gzip` rather than tarfile's own ``r|gz``, which loops forever on
    a gzip file of several members (as ``cat a.gz b.gz`` makes).
    """
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(open(src, "rb")) if isinstance(src, str) else src
        buffered = raw if hasattr(raw, "peek") else stack.enter_context(io.BufferedReader(raw))
        if buffered.peek(2)[:2] == b"\x1f\x8b":  # type: ignore[union-attr]
            unzipped = stack.enter_context(gzip.GzipFile(fileobj=buffered, mode="rb"))
            yield stack.enter_context(tarfile.open(fileobj=unzipped, mode="r|"))
        else:
            yield stack.enter_context(tarfile.open(fileobj=buffered, mode="r|*"))


def extract_archive(src: str | IO[bytes], dest: str, workers: int | None = None) -> int:
    """Extract a tar archive (plain or gzip, a path or a readable stream) into ``dest``.

    Members pass tarfile's ``data`` filter (nothing outside ``dest``, no devices, sane
    modes), as ``extractall(filter="data")`` would. The archive is read once, front to back;
    regular files are written by a thread pool, because creating and filling a file costs
    more system time here than decompressing it. Returns the number of files written.
    """
    dest = os.path.realpath(dest)
    os.makedirs(dest, exist_ok=True)
    workers = workers or EXTRACT_WORKERS
    made: set[str] = {dest}
    gate = threading.BoundedSemaphore(MAX_IN_FLIGHT // SMALL_MEMBER)
    written = 0
    with open_tar_stream(src) as tar, \
            ThreadPoolExecutor(workers, thread_name_prefix="dflow-untar") as pool:
        pending: list[Future[None]] = []
        for member in tar:
            member = tarfile.data_filter(member, dest)
            target = os.path.join(dest, member.name)
            if member.isreg() and member.size <= SMALL_MEMBER:
                parent = os.path.dirname(target)
                if parent not in made:
                    os.makedirs(parent, exist_ok=True)
                    made.add(parent)
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                gate.acquire()
                pending.append(pool.submit(_write_member, target, data, member, gate))
                written += 1
            elif member.isdir():
                os.makedirs(target, exist_ok=True)
                made.add(target)
            else:  # large files, links: tarfile itself, in order (links may need earlier files)
                for done in pending:
                    done.result()
                pending.clear()
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


def _write_member(path: str, data: bytes, member: tarfile.TarInfo,
                  gate: threading.BoundedSemaphore) -> None:
    try:
        with open(path, "wb") as f:
            f.write(data)
        if member.mode is not None:
            os.chmod(path, member.mode)
        os.utime(path, (member.mtime, member.mtime))
    finally:
        gate.release()


__all__ = [
    "ParallelGzipWriter", "deflate_block", "extract_archive", "open_tar_stream", "write_tgz",
]

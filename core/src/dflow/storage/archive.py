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
:func:`extract_archive` is the matching fast reader, which refuses any member that could
land outside its destination.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import io
import os
import stat
import struct
import tarfile
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, cast

from .errors import StorageError
from .paths import Layout, UnsafePath

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
    with _tgz_writer(dest, level) as tar:
        tar.add(src, arcname=arcname)


def write_tgz_members(
    members: Iterable[tuple[str | None, str]], dest: str | IO[bytes], level: int = 1
) -> None:
    """Write ``members``, pairs of (path, name in the archive), as ``dest``: each path on its
    own (a directory's content is not walked; list it), links followed; a path of None is a
    directory made in the archive alone (mode 755, modified now). Directories should come
    before their files: some extractors do not make missing parents."""
    with _tgz_writer(dest, level) as tar:
        now = int(time.time())
        for path, name in members:
            if path is None:
                info = tarfile.TarInfo(name)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
                tar.addfile(info)
            else:
                tar.add(path, arcname=name, recursive=False)


@contextlib.contextmanager
def _tgz_writer(dest: str | IO[bytes], level: int) -> Iterator[tarfile.TarFile]:
    with contextlib.ExitStack() as stack:
        f = stack.enter_context(open(dest, "wb")) if isinstance(dest, str) else dest
        gz = stack.enter_context(ParallelGzipWriter(f, level))
        # tarfile only writes and asks tell(); copying files in 1 MiB reads keeps it cheap
        # what open(mode="w") makes (typeshed's open lacks copybufsize); the writer has no
        # read/seek, which typeshed's file protocol asks for and mode "w" never uses
        with _WholeSecondTar(
            fileobj=cast(Any, gz), mode="w", dereference=True, copybufsize=1024 * 1024
        ) as tar:
            yield tar


class _WholeSecondTar(tarfile.TarFile):
    """Modification times in whole seconds, as GNU tar stores them. A fractional mtime makes
    tarfile add a pax extended header to every member: a third more header work to write
    and to read, and 1 KiB more per file.

    Owner and group names are looked up once per uid/gid for the archive: tarfile asks
    ``pwd``/``grp`` for each member, which reads ``/etc/passwd`` and ``/etc/group`` every time
    (a fifth of the CPU spent per small file). Only the ``dereference`` mode that
    :func:`write_tgz` uses is built here; anything else goes through tarfile.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unames: dict[int, str] = {}
        self._gnames: dict[int, str] = {}

    def gettarinfo(
        self, name: Any = None, arcname: str | None = None, fileobj: Any = None
    ) -> tarfile.TarInfo:
        if fileobj is not None or name is None or not self.dereference:
            info = super().gettarinfo(name, arcname, fileobj)
            if info is not None:
                info.mtime = int(info.mtime)
            return info
        st = os.stat(name)  # dereference: a symlink is archived as what it points to
        mode = st.st_mode
        if stat.S_ISREG(mode):
            kind = tarfile.REGTYPE
        elif stat.S_ISDIR(mode):
            kind = tarfile.DIRTYPE
        elif stat.S_ISFIFO(mode):
            kind = tarfile.FIFOTYPE
        elif stat.S_ISCHR(mode):
            kind = tarfile.CHRTYPE
        elif stat.S_ISBLK(mode):
            kind = tarfile.BLKTYPE
        else:  # a socket: None, as tarfile's own (typeshed omits it), and add() skips it
            return None  # type: ignore[return-value]
        member = os.fspath(name if arcname is None else arcname)
        info = self.tarinfo(os.path.splitdrive(member)[1].replace(os.sep, "/").lstrip("/"))
        info.mode = mode
        info.uid, info.gid = st.st_uid, st.st_gid
        info.size = st.st_size if kind == tarfile.REGTYPE else 0
        info.mtime = int(st.st_mtime)
        info.type = kind
        info.uname = _owner_name(self._unames, st.st_uid, _user_name)
        info.gname = _owner_name(self._gnames, st.st_gid, _group_name)
        if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        return info


def _owner_name(cache: dict[int, str], number: int, lookup: Any) -> str:
    name = cache.get(number)
    if name is None:
        try:
            name = lookup(number)
        except (KeyError, ImportError):  # an id with no name (a container's), or no pwd module
            name = ""
        cache[number] = name
    return name


def _user_name(uid: int) -> str:
    import pwd

    return pwd.getpwuid(uid).pw_name


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


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


class UnsafeArchive(StorageError, tarfile.TarError):
    """An archive member would be written outside the destination, or is not plain data."""

    default_hint = (
        "the archive was refused and nothing of it was kept; recreate it from plain files "
        "and directories (links relative and inside)"
    )


def extract_archive(
    src: str | IO[bytes],
    dest: str,
    workers: int | None = None,
    *,
    name: str | None = None,
    merge_top: bool = False,
) -> int:
    """Extract a tar archive (plain or gzip, a path or a readable stream) into ``dest``.

    Safe by construction, on every Python whatever its ``tarfile``: each member is resolved
    against :class:`~dflow.storage.paths.Layout`, the map of what this extraction created,
    so no link is followed on disk while writing. Refused with :class:`UnsafeArchive`,
    naming the member and the archive (``name``, else ``src``): ``..``, absolute paths, paths
    over PATH_MAX, absolute links or links leading out of ``dest`` (also through a chain of
    links), hard links to anything but a file of the archive, devices and fifos, a member
    replacing another. With ``merge_top`` links must also stay inside the top directory
    :func:`content_root` merges away. Modes follow tarfile's ``data`` filter.

    The archive is read once, front to back, while a worker thread writes the small regular
    files: creating and filling a file costs more system time than decompressing it. Returns
    the number of regular files written.
    """
    dest = os.path.realpath(dest)  # ours, not the archive's: resolving it is safe
    os.makedirs(dest, exist_ok=True)
    label = name or (src if isinstance(src, str) else "archive")
    layout = Layout(dest)
    workers = workers or EXTRACT_WORKERS
    gate = threading.BoundedSemaphore(MAX_IN_FLIGHT // SMALL_MEMBER)
    written = 0
    with (
        open_tar_stream(src) as tar,
        ThreadPoolExecutor(workers, thread_name_prefix="dflow-untar") as pool,
    ):
        pending: list[Future[None]] = []
        for member in tar:
            what = f"member '{member.name}' of '{label}'"
            try:
                if member.isreg():
                    target = layout.place(member.name, "file", what)
                    mode = _data_mode(member.mode)
                    if member.size <= SMALL_MEMBER:
                        data = tar.extractfile(member).read()  # type: ignore[union-attr]
                        gate.acquire()
                        pending.append(
                            pool.submit(_write_member, target, data, mode, member.mtime, gate)
                        )
                    else:
                        _stream_member(target, tar.extractfile(member), mode, member.mtime)  # type: ignore[arg-type]
                    written += 1
                elif member.isdir():
                    layout.place(member.name, "dir", what)
                elif member.issym():
                    os.symlink(member.linkname, layout.add_link(member.name, member.linkname, what))
                elif member.islnk():
                    source = layout.hard_link_source(member.linkname, what)
                    target = layout.place(member.name, "file", what)
                    for done in pending:  # the file linked to may still be being written
                        done.result()
                    pending.clear()
                    os.link(source, target, follow_symlinks=False)
                else:
                    kind = "a device" if member.isdev() else "a fifo" if member.isfifo() else None
                    raise UnsafePath(f"{what} is {kind or f'of tar type {member.type!r}'}")
            except UnsafePath as exc:
                raise UnsafeArchive(f"refused {exc.reason}", key=label) from None
            if len(pending) > 4096:  # keep the list short; result() raises a failed write
                finished = [f for f in pending if f.done()]
                for f in finished:
                    f.result()
                pending = [f for f in pending if not f.done()]
        for done in pending:
            done.result()
    # every link again, now that all exist: a chain made of links that were each inside
    # when written can still lead out
    root = os.path.relpath(content_root(dest), dest) if merge_top else "."
    try:
        layout.check_links(() if root == "." else (root,), f"archive '{label}'")
    except UnsafePath as exc:
        raise UnsafeArchive(f"refused {exc.reason}", key=label) from None
    return written


def content_root(dest: str) -> str:
    """The directory an extracted artifact's content is taken from: Argo and
    ``upload_artifact`` put everything in one top directory, which is merged away."""
    entries = os.listdir(dest)
    top = os.path.join(dest, entries[0]) if len(entries) == 1 else ""
    if top and os.path.isdir(top) and not os.path.islink(top):
        return top
    return dest


def _data_mode(mode: int | None) -> int | None:
    """The mode tarfile's ``data`` filter keeps: no set-id bits, no write for others, always
    readable and writable by the owner, executable only where the owner may execute."""
    if mode is None:
        return None
    mode &= 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return mode | 0o600


_CREATE = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _write_member(
    path: str, data: bytes, mode: int | None, mtime: float, gate: threading.BoundedSemaphore
) -> None:
    try:
        _write_file(path, [data], mode, mtime)
    finally:
        gate.release()


def _stream_member(path: str, src: IO[bytes], mode: int | None, mtime: float) -> None:
    _write_file(path, iter(lambda: src.read(1024 * 1024), b""), mode, mtime)


def _write_file(path: str, chunks: Iterable[bytes], mode: int | None, mtime: float) -> None:
    # O_NOFOLLOW: the layout checked every directory above; the name itself is never a link
    fd = os.open(path, _CREATE, 0o600)
    try:
        for data in chunks:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        if mode is not None:
            os.fchmod(fd, mode)
        os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


__all__ = [
    "GunzipReader",
    "ParallelGzipWriter",
    "UnsafeArchive",
    "content_root",
    "deflate_block",
    "extract_archive",
    "open_tar_stream",
    "write_tgz",
]

"""Verified GCS downloads: one streamed GET, or ranged parts fetched in parallel.

The SDK's own download reads the body 8 KiB at a time (a Python loop of 131,072 turns per
GiB, CPU-bound at a few hundred MB/s); here the body is read 1 MiB at a time and written with
``pwrite``. Every byte is checked: the CRC32C of what was written is compared with the one in
the ``x-goog-hash`` header of the (first) response; ranged parts are hashed separately and their
CRCs combined, so no second pass over the file is needed. A mid-stream network error resumes
with a ``Range`` request from the last byte written (the running CRC carries on).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections.abc import Callable
from typing import IO, Any
from urllib.parse import quote

import google_crc32c
from dflow.storage.stream import ranged_stream
from dflow.storage.transfer import run_concurrently

CHUNK = 1024 * 1024
_POLY = 0x82F63B78  # CRC-32C (Castagnoli), bit-reflected


class ChecksumMismatch(Exception):
    """The bytes received do not match the checksum GCS reported for the object."""


class NeedsSDK(Exception):
    """A body this reader does not handle (gzip-encoded, no length): the SDK's path does."""


def _multmodp(a: int, b: int) -> int:
    """``a(x) * b(x) mod P`` for bit-reflected CRC-32C polynomials."""
    m, p = 1 << 31, 0
    while a:
        if a & m:
            p ^= b
            a ^= m
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return p


_X2N = [1 << 30]  # x^(2^n) mod P, n = 0..31
for _ in range(31):
    _X2N.append(_multmodp(_X2N[-1], _X2N[-1]))


def crc32c_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32C of ``A + B`` from ``crc(A)``, ``crc(B)`` and ``len(B)`` (no data needed)."""
    shift, k, n = 1 << 31, 3, len2  # x^(8 * len2) mod P, by squaring
    while n:
        if n & 1:
            shift = _multmodp(_X2N[k & 31], shift)
        n >>= 1
        k += 1
    return _multmodp(shift, crc1) ^ crc2


def parse_hashes(header: str | None) -> dict[str, bytes]:
    """``x-goog-hash: crc32c=...,md5=...`` as ``{"crc32c": raw bytes, "md5": raw bytes}``."""
    out = {}
    for item in (header or "").split(","):
        name, sep, value = item.strip().partition("=")
        if sep and name in ("crc32c", "md5"):
            out[name] = base64.b64decode(value)
    return out


class Downloader:
    """Fetches one object into an open file descriptor, verified; see the module docstring.

    ``retry`` is a google.api_core ``Retry`` (network errors, 429 and 5xx); ``hashes_of`` is
    called when a response carried no ``x-goog-hash`` (some emulators omit it) and returns the
    object's metadata hashes in the same form as :func:`parse_hashes`.
    """

    def __init__(
        self,
        session: Any,
        endpoint: str,
        bucket: str,
        *,
        retry: Any,
        timeout: float,
        workers: int,
        sliced_threshold: int,
        part_size: int,
        hashes_of: Callable[[str], dict[str, bytes]],
    ) -> None:
        self.session, self.retry, self.timeout = session, retry, timeout
        self.base = f"{endpoint}/download/storage/v1/b/{quote(bucket, safe='')}/o/"
        self.workers, self.sliced_threshold, self.part_size = workers, sliced_threshold, part_size
        self.hashes_of = hashes_of

    def _get(self, url: str, start: int = 0, end: int | None = None) -> Any:
        from google.api_core.exceptions import from_http_response

        headers = {"Range": f"bytes={start}-{end - 1}"} if end is not None else {}
        resp = self.session.get(url, headers=headers, stream=True, timeout=self.timeout)
        if resp.status_code >= 300:
            raise from_http_response(resp)
        if resp.headers.get("Content-Encoding", "identity") != "identity":
            resp.close()
            raise NeedsSDK(f"Content-Encoding: {resp.headers['Content-Encoding']}")
        if end is not None and resp.status_code != 206:
            resp.close()
            raise ConnectionError(f"asked for bytes {start}-{end - 1}, got HTTP {resp.status_code}")
        return resp

    def fetch(self, name: str, fd: int) -> int:
        """Write object ``name`` into ``fd`` (offsets from 0); return its size."""
        url = self.base + quote(name, safe="") + "?alt=media"
        first = self.retry(lambda: self._get(url))()
        try:
            length = first.headers.get("Content-Length")
            if length is None:
                raise NeedsSDK("no Content-Length")
            size = int(length)
            expected = parse_hashes(first.headers.get("x-goog-hash"))
            generation = first.headers.get("x-goog-generation")
        except BaseException:
            first.close()
            raise
        use_md5 = "crc32c" not in expected and "md5" in expected
        if generation:  # every ranged part must come from the same version of the object
            url += f"&generation={generation}"
        step = max(CHUNK, self.part_size)
        if self.workers > 1 and size >= self.sliced_threshold and not use_md5:
            bounds = [(a, min(size, a + step)) for a in range(0, size, step)]
        else:
            bounds = [(0, size)]

        def part(i: int) -> tuple[int, Any]:
            start, end = bounds[i]
            return end - start, _Part(
                self, url, fd, start, end, first if i == 0 else None, use_md5
            ).run()

        if len(bounds) == 1:
            results = [part(0)]
        else:
            try:
                results = run_concurrently(part, range(len(bounds)), self.workers)
            finally:
                first.close()
        self._verify(name, size, results, expected or self.hashes_of(name))
        return size

    def stream(
        self,
        name: str,
        size: int,
        generation: int | None,
        crc32c: str | None,
        translate: Callable[[Exception], BaseException] | None = None,
    ) -> contextlib.AbstractContextManager[IO[bytes]]:
        """Object ``name`` as a stream of ranged GETs fetched ahead in parallel, in order
        (:func:`dflow.storage.stream.ranged_stream`: errors go through ``translate``).

        Each range is pinned to ``generation`` (the version whose metadata gave ``size`` and
        ``crc32c``); the ranges' CRC32Cs are combined and compared with ``crc32c`` when the last
        byte is read, before the reader sees the end of the stream.
        """
        url = self.base + quote(name, safe="") + "?alt=media"
        if generation:
            url += f"&generation={generation}"
        step = max(CHUNK, self.part_size)
        crcs: dict[int, int] = {}

        def fetch(start: int, end: int) -> bytes:
            def once() -> bytes:
                resp = self._get(url, start, end)
                try:
                    data = resp.raw.read(end - start)
                finally:
                    resp.close()
                crcs[start] = google_crc32c.value(data)
                return data

            return bytes(self.retry(once)())

        def verify(_parts: list[bytes], _md5: str) -> None:
            if crc32c is None:
                raise ChecksumMismatch(f"GCS reported no CRC32C for '{name}': cannot verify it")
            crc = 0
            for start in sorted(crcs):
                crc = crc32c_combine(crc, crcs[start], min(step, size - start))
            got, want = crc.to_bytes(4, "big"), base64.b64decode(crc32c)
            if got != want:
                raise ChecksumMismatch(
                    f"crc32c of the {size} bytes streamed ({len(crcs)} ranges combined) is "
                    f"{base64.b64encode(got).decode()}, GCS reported {crc32c}"
                )

        return ranged_stream(
            fetch,
            size,
            part=step,
            ahead=max(1, self.workers),
            verify=verify,
            translate=translate,
            buffer_size=CHUNK,
        )

    @staticmethod
    def _verify(
        name: str, size: int, results: list[tuple[int, Any]], expected: dict[str, bytes]
    ) -> None:
        if "crc32c" in expected:
            crc = int.from_bytes(results[0][1].digest(), "big")
            for length, digest in results[1:]:
                crc = crc32c_combine(crc, int.from_bytes(digest.digest(), "big"), length)
            got, want, kind = crc.to_bytes(4, "big"), expected["crc32c"], "crc32c"
        elif "md5" in expected:
            got, want, kind = results[0][1].digest(), expected["md5"], "md5"
        else:
            raise ChecksumMismatch(
                f"GCS reported no checksum for '{name}': cannot verify the download"
            )
        if got != want:
            parts = f" ({len(results)} ranged parts combined)" if len(results) > 1 else ""
            raise ChecksumMismatch(
                f"{kind} of the {size} bytes received{parts} is {base64.b64encode(got).decode()}, "
                f"GCS reported {base64.b64encode(want).decode()}"
            )


class _Part:
    """Bytes ``[start, end)`` into ``fd``, hashed; resumes after a network error."""

    def __init__(
        self, owner: Downloader, url: str, fd: int, start: int, end: int, resp: Any, use_md5: bool
    ) -> None:
        self.owner, self.url, self.fd, self.end, self.resp = owner, url, fd, end, resp
        self.offset = start
        self.digest = hashlib.md5(usedforsecurity=False) if use_md5 else google_crc32c.Checksum()

    def run(self) -> Any:
        self.owner.retry(self._stream)()
        return self.digest

    def _stream(self) -> None:
        from urllib3.exceptions import HTTPError as Urllib3Error

        if self.offset >= self.end:
            return
        if self.resp is None:
            self.resp = self.owner._get(self.url, self.offset, self.end)
        resp, self.resp = self.resp, None  # a retry opens a new range from ``offset``
        try:
            read, fd = resp.raw.read, self.fd
            while self.offset < self.end:
                chunk = read(min(CHUNK, self.end - self.offset))
                if not chunk:
                    raise ConnectionError(f"connection closed at byte {self.offset} of {self.end}")
                self.digest.update(chunk)
                os.pwrite(fd, chunk, self.offset)
                self.offset += len(chunk)
        except Urllib3Error as exc:  # raw reads bypass requests' wrapping: make it retryable
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            resp.close()

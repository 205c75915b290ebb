"""CRC-64/ECMA (the ``x-oss-hash-crc64ecma`` OSS reports) at memory speed, and CRC checks.

oss2 computes this CRC with crcmod (about 0.4 GB/s, holding the GIL): for a large transfer
that is more CPU than moving the bytes. fastcrc's SIMD CRC-64/XZ is the same function
(reflected ECMA-182 polynomial, all-ones init and xorout) at tens of GB/s, so the client checks
every transfer with oss2's CRC turned off.
"""

from __future__ import annotations

import functools
from typing import Any

from fastcrc import crc64 as _fast


def crc64(data: Any, crc: int = 0) -> int:
    """CRC-64 of ``data`` (a bytes-like object), continuing from the CRC ``crc`` of what preceded it."""
    return _fast.xz(data, initial=crc) if crc else _fast.xz(data)


@functools.lru_cache(maxsize=4)
def _zeros(size: int) -> bytes:
    return bytes(size)


def combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-64 of ``A + B`` from ``crc64(A)``, ``crc64(B)`` and ``len(B)``.

    The CRC is affine in its starting value, so the part that depends on ``crc1`` is the
    CRC of ``len2`` zero bytes started from ``crc1``, less the same started from 0.
    """
    if len2 == 0:
        return crc1
    zeros = _zeros(len2) if len2 <= 64 * 1024 * 1024 else bytes(len2)
    return crc64(zeros, crc1) ^ crc64(zeros) ^ crc2


def check(what: str, ours: int | None, theirs: int | None, request_id: str | None) -> None:
    """Raise oss2's ``InconsistentError`` (retried, then shown as an integrity error) on a mismatch.

    ``theirs`` is None when the server sent no CRC (an OSS-compatible store without it):
    then there is nothing to compare.
    """
    if ours is not None and theirs is not None and ours != theirs:
        import oss2

        raise oss2.exceptions.InconsistentError(
            f"{what}: CRC-64 of the data here is {ours}, OSS reported {theirs}", request_id or ""
        )

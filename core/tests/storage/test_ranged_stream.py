"""``dflow.storage.stream.ranged_stream``: how every store's ``open_read`` reports errors."""

from __future__ import annotations

import hashlib

import pytest
from dflow.storage import IntegrityError, StorageError, Unreachable
from dflow.storage.stream import ranged_stream

DATA = bytes(range(256)) * 40  # 10,240 bytes: five ranges of 2,048


class StoreError(Exception):
    """What a store's SDK raises."""


def _translate(exc: Exception) -> BaseException:
    if isinstance(exc, StoreError):
        return Unreachable(f"cannot reach the store ({exc})", key="k", store="test")
    if isinstance(exc, OSError):
        return StorageError(f"download of 'k': {exc}", key="k", store="test")
    return exc  # not the store's: raised as it is


def _read_all(**kw) -> bytes:
    with ranged_stream(kw.pop("fetch"), len(DATA), part=2048, ahead=2, **kw) as stream:
        return stream.read()


def test_the_bytes_come_in_order_and_are_verified_at_the_end():
    seen = []

    def verify(parts: list[bytes], md5: str) -> None:
        seen.append((len(parts), md5))

    got = _read_all(fetch=lambda a, b: DATA[a:b], verify=verify, translate=_translate)
    assert got == DATA
    assert seen == [(5, hashlib.md5(DATA).hexdigest())]


def test_a_store_error_while_reading_is_raised_as_dflows():
    def fetch(a: int, b: int) -> bytes:
        if a >= 4096:
            raise StoreError("connection reset")
        return DATA[a:b]

    with pytest.raises(Unreachable, match="connection reset") as info:
        _read_all(fetch=fetch, translate=_translate)
    assert isinstance(info.value.__cause__, StoreError)


def test_a_short_range_and_a_failed_verification_are_translated_too():
    with pytest.raises(StorageError, match=r"ranged read of bytes 2048-4095: got 10 bytes"):
        _read_all(
            fetch=lambda a, b: DATA[a : a + 10] if a == 2048 else DATA[a:b], translate=_translate
        )

    def verify(parts: list[bytes], md5: str) -> None:
        raise IntegrityError("the data read does not match", key="k", store="test")

    with pytest.raises(IntegrityError):  # already dflow's: unchanged
        _read_all(fetch=lambda a, b: DATA[a:b], verify=verify, translate=_translate)


def test_an_error_translate_leaves_alone_is_raised_without_a_cause_loop():
    def fetch(a: int, b: int) -> bytes:
        raise KeyError("not the store's")

    with pytest.raises(KeyError) as info:
        _read_all(fetch=fetch, translate=_translate)
    assert info.value.__cause__ is None

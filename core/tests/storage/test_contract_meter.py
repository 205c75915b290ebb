"""The storage contract's memory meter measures each call on its own: an earlier spike in the
process does not hide growth inside the block (the process-lifetime peak, ``ru_maxrss``, did)."""

from __future__ import annotations

import resource

from dflow.testing.storage_contract import PeakGrowth

MiB = 1024 * 1024


def _touch(size: int) -> bytearray:
    block = bytearray(size)
    block[::4096] = b"x" * len(block[::4096])  # make the pages resident
    return block


def test_growth_inside_the_block_is_seen_after_a_larger_earlier_spike():
    spike = _touch(160 * MiB)
    del spike
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with PeakGrowth() as meter:
        held = _touch(64 * MiB)
        del held
    lifetime_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak_before
    assert lifetime_growth < 8 * MiB  # what the old check saw: the spike hid the 64 MiB
    assert 60 * MiB <= meter.bytes < 100 * MiB


def test_a_block_that_allocates_little_measures_little():
    _touch(100 * MiB)
    with PeakGrowth() as meter:
        small = _touch(1 * MiB)
        del small
    assert meter.bytes < 16 * MiB

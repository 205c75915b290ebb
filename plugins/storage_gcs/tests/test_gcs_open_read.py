"""``GCSClient.open_read``: ranged GETs streamed in order, CRC32C-checked, never spooled."""

from __future__ import annotations

import os

import pytest
from dflow.storage import IntegrityError

MiB = 1024 * 1024


@pytest.fixture
def prefix(request):
    return f"{request.node.name[:40]}-{os.urandom(4).hex()}/"


def _file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_streams_by_ranges_without_spooling(make_client, prefix, tmp_path):
    data = os.urandom(3 * MiB + 100)
    client = make_client(download_part_size=MiB, download_workers=2)
    client.upload(prefix + "f", _file(tmp_path, "f", data))
    spool = tmp_path / "spool"
    spool.mkdir()
    with client.open_read(prefix + "f", spool_dir=str(spool)) as stream:
        first = stream.read(1000)
        assert os.listdir(spool) == []  # streamed, not downloaded to a file first
        rest = stream.read()
    assert first + rest == data


def test_a_damaged_range_fails_the_read_before_its_end(
    gcs_disk_emulator, make_client, prefix, tmp_path
):
    data = os.urandom(3 * MiB + 100)
    client = make_client(
        endpoint=gcs_disk_emulator.endpoint, download_part_size=MiB, download_workers=2
    )
    client.upload(prefix + "f", _file(tmp_path, "f", data))
    damaged = bytearray(data)
    damaged[3 * MiB + 7] ^= 0x01  # one bit in the last of 4 ranges
    with open(gcs_disk_emulator.object_path(prefix + "f"), "wb") as f:
        f.write(damaged)
    with pytest.raises(IntegrityError) as info, client.open_read(prefix + "f") as stream:
        while stream.read(64 * 1024):
            pass
    message = str(info.value)
    assert f"GCS download of '{prefix}f'" in message
    assert f"crc32c of the {len(data)} bytes streamed (4 ranges combined) is" in message

"""``OSSClient.open_read``: parallel ranged GETs streamed in order, checked, never spooled."""

from __future__ import annotations

import os

import pytest
from dflow.storage import IntegrityError, StorageError

MiB = 1024 * 1024


@pytest.fixture
def prefix(request):
    return f"{request.node.name[:40]}-{os.urandom(4).hex()}/"


def _upload(client, key, data, tmp_path):
    path = tmp_path / "src"
    path.write_bytes(data)
    client.upload(key, str(path))


def test_streams_by_ranges_without_spooling(make_client, prefix, tmp_path):
    data = os.urandom(3 * MiB + 17)
    client = make_client(part_size=MiB, workers=2)
    _upload(client, prefix + "big", data, tmp_path)
    spool = tmp_path / "spool"
    spool.mkdir()
    with client.open_read(prefix + "big", spool_dir=str(spool)) as stream:
        first = stream.read(1000)
        assert os.listdir(spool) == []  # streamed, not downloaded to a file first
        rest = stream.read()
    assert first + rest == data


def test_a_corrupted_range_fails_the_read_before_its_end(oss_server, make_client, prefix, tmp_path):
    data = os.urandom(3 * MiB + 17)
    client = make_client(part_size=MiB, workers=1, retries=1)
    _upload(client, prefix + "big", data, tmp_path)
    oss_server.corrupt_next_gets(1)
    with pytest.raises(IntegrityError) as info, client.open_read(prefix + "big") as stream:
        while stream.read(64 * 1024):
            pass
    assert "does not match the checksum OSS reported" in str(info.value)
    assert prefix + "big" in str(info.value)


def test_an_object_overwritten_while_read_is_not_mixed_in(make_client, prefix, tmp_path):
    client = make_client(part_size=MiB, workers=1)
    _upload(client, prefix + "big", os.urandom(4 * MiB), tmp_path)
    with pytest.raises(StorageError) as info, client.open_read(prefix + "big") as stream:
        stream.read(MiB)  # the first range is read; later ones are fetched after this
        _upload(client, prefix + "big", os.urandom(4 * MiB), tmp_path)
        while stream.read(64 * 1024):
            pass
    assert "overwritten while it was being read" in str(info.value)

"""Downloads: one verified stream, ranged parts in parallel, CRC32C combination, staging."""

from __future__ import annotations

import hashlib
import os

import google_crc32c
import pytest
from dflow.storage import IntegrityError, download_s3, upload_s3
from dflow_storage_gcs._download import crc32c_combine, parse_hashes

MiB = 1024 * 1024


@pytest.fixture
def prefix(request):
    return f"{request.node.name[:40]}-{os.urandom(4).hex()}/"


def _file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_crc32c_combine_matches_the_crc_of_the_concatenation():
    data = os.urandom(300_001)
    for cut in (0, 1, 4096, 150_000, 300_001):
        a, b = data[:cut], data[cut:]
        combined = crc32c_combine(google_crc32c.value(a), google_crc32c.value(b), len(b))
        assert combined == google_crc32c.value(data)


def test_parse_hashes():
    assert parse_hashes("crc32c=AAAAAQ==,md5=AAECAw==") == {
        "crc32c": b"\0\0\0\1",
        "md5": b"\0\1\2\3",
    }
    assert parse_hashes(None) == {} and parse_hashes("other=xx") == {}


@pytest.mark.parametrize("size", [0, 1, 3 * MiB + 12345])
def test_sliced_download_reassembles_the_object(make_client, prefix, tmp_path, size):
    data = os.urandom(size)
    client = make_client(sliced_download_threshold=MiB, download_part_size=MiB, download_workers=3)
    client.upload(prefix + "f", _file(tmp_path, "f", data))
    client.download(prefix + "f", str(tmp_path / "out" / "f"))
    assert (tmp_path / "out" / "f").read_bytes() == data
    assert os.listdir(tmp_path / "out") == ["f"]  # no temporary file left beside it


def test_download_replaces_an_existing_file_whole(make_client, prefix, tmp_path):
    client = make_client()
    client.upload(prefix + "f", _file(tmp_path, "f", b"short"))
    dest = tmp_path / "dest"
    dest.write_bytes(b"a much longer old content that must not survive as a tail")
    client.download(prefix + "f", str(dest))
    assert dest.read_bytes() == b"short"


def test_damaged_ranged_part_is_detected(gcs_disk_emulator, make_client, prefix, tmp_path):
    data = os.urandom(3 * MiB + 100)
    client = make_client(
        endpoint=gcs_disk_emulator.endpoint,
        integrity_retries=0,
        sliced_download_threshold=MiB,
        download_part_size=MiB,
        download_workers=4,
    )
    client.upload(prefix + "f", _file(tmp_path, "f", data))
    stored = gcs_disk_emulator.object_path(prefix + "f")
    damaged = bytearray(data)
    damaged[3 * MiB + 7] ^= 0x01  # one bit in the last of 4 parts
    with open(stored, "wb") as f:
        f.write(damaged)
    dest = tmp_path / "out" / "f"
    with pytest.raises(IntegrityError) as info:
        client.download(prefix + "f", str(dest))
    message = str(info.value)
    assert f"GCS download of '{prefix}f' in bucket 'dflow-test'" in message
    assert "does not match the checksum GCS reported" in message
    assert f"crc32c of the {len(data)} bytes received (4 ranged parts combined) is" in message
    assert not dest.exists() and os.listdir(tmp_path / "out") == []


def test_tree_download_goes_through_staging(make_client, prefix, tmp_path):
    client = make_client()
    src = tmp_path / "src"
    files = {f"d{i % 3}/f{i}.bin": os.urandom(1000 + i) for i in range(20)}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    key = upload_s3(str(src), key=prefix + "tree", storage_client=client)
    download_s3(key, str(tmp_path / "dst"), storage_client=client)
    for rel, data in files.items():
        assert (
            hashlib.md5((tmp_path / "dst" / rel).read_bytes()).digest()
            == hashlib.md5(data).digest()
        )
    assert sorted(os.listdir(tmp_path / "dst")) == ["d0", "d1", "d2"]

"""The OSS test server's own checks: its CRC-64 is oss2's, also for multipart objects."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ACCESS_KEY_ID, ACCESS_KEY_SECRET, BUCKET = (
    "dflow-test-ak",
    "dflow-test-secret",
    "dflow-test",
)  # as conftest.py

MiB = 1024 * 1024


def _server_module():
    spec = importlib.util.spec_from_file_location(
        "oss_server_under_test", Path(__file__).with_name("oss_server.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_crc64_and_combine_match_the_reference():
    server = _server_module()
    for size in (0, 1, 7, 4096, 100_003):
        data = os.urandom(size)
        assert server.crc64(data) == server.crc64_reference(data)
        for cut in {0, size // 3, size}:
            head, tail = data[:cut], data[cut:]
            assert server.crc64_combine(
                server.crc64(head), server.crc64(tail), len(tail)
            ) == server.crc64_reference(data)


def test_plain_oss2_with_its_crc_checks_accepts_the_server(oss_server):
    import oss2

    bucket = oss2.Bucket(
        oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), oss_server.endpoint, BUCKET, enable_crc=True
    )  # oss2 compares its crcmod CRC with the server's
    key = f"server-{os.urandom(4).hex()}/parts"
    data = os.urandom(2 * MiB + 11)
    upload_id = bucket.init_multipart_upload(key).upload_id
    parts = [
        oss2.models.PartInfo(n, bucket.upload_part(key, upload_id, n, chunk).etag)
        for n, chunk in ((1, data[:MiB]), (2, data[MiB:]))
    ]
    result = bucket.complete_multipart_upload(key, upload_id, parts)
    reference = oss2.utils.Crc64()
    reference.update(data)
    assert result.crc == reference.crc  # the parts' CRCs combined, as one pass would give
    got = bucket.get_object(key)
    assert got.read() == data  # the whole-object GET is CRC-checked by oss2 at the end
    assert got.server_crc == reference.crc


def test_ranges_across_the_parts_of_a_multipart_object(oss_server):
    import oss2

    bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), oss_server.endpoint, BUCKET)
    key = f"server-{os.urandom(4).hex()}/parts"
    data = os.urandom(3 * 100_000 + 7)
    upload_id = bucket.init_multipart_upload(key).upload_id
    chunks = [data[:100_000], data[100_000:200_000], data[200_000:]]
    parts = [
        oss2.models.PartInfo(n, bucket.upload_part(key, upload_id, n, chunk).etag)
        for n, chunk in enumerate(chunks, 1)
    ]
    bucket.complete_multipart_upload(key, upload_id, parts)
    for first, last in ((0, 299_999), (99_990, 200_010), (150_000, 150_000), (250_000, 300_006)):
        assert bucket.get_object(key, byte_range=(first, last)).read() == data[first : last + 1]
    assert bucket.get_object(key, byte_range=(None, 20)).read() == data[-20:]  # the last 20 bytes
    copy_id = bucket.init_multipart_upload(key + "-copy").upload_id
    etag = bucket.upload_part_copy(BUCKET, key, (99_000, 201_000), key + "-copy", copy_id, 1).etag
    bucket.complete_multipart_upload(key + "-copy", copy_id, [oss2.models.PartInfo(1, etag)])
    assert bucket.get_object(key + "-copy").read() == data[99_000:201_001]


def test_list_multipart_uploads_pages_by_key_then_age(oss_server):
    import oss2

    bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), oss_server.endpoint, BUCKET)
    base = f"server-{os.urandom(4).hex()}/"
    keys = [base + "a", base + "a", base + "b", base + "dir/x", base + "dir/y", base + "c d"]
    ids = [bucket.init_multipart_upload(key).upload_id for key in keys]
    seen, key_marker, id_marker = [], "", ""
    while True:  # two at a time, resuming after the last entry
        page = bucket.list_multipart_uploads(
            prefix=base, key_marker=key_marker, upload_id_marker=id_marker, max_uploads=2
        )
        seen += [(u.key, u.upload_id) for u in page.upload_list]
        if not page.is_truncated:
            break
        key_marker, id_marker = page.next_key_marker, page.next_upload_id_marker
    assert seen == sorted(zip(keys, ids, strict=True))  # a key's uploads oldest first
    grouped = bucket.list_multipart_uploads(prefix=base, delimiter="/")
    assert grouped.prefix_list == [base + "dir/"]
    assert [u.key for u in grouped.upload_list] == [
        base + "a",
        base + "a",
        base + "b",
        base + "c d",
    ]
    for key, upload_id in zip(keys, ids, strict=True):
        bucket.abort_multipart_upload(key, upload_id)
    assert bucket.list_multipart_uploads(prefix=base).upload_list == []
    with pytest.raises(oss2.exceptions.NoSuchUpload):  # gone, and only under its own key
        bucket.list_parts(keys[0], ids[0])

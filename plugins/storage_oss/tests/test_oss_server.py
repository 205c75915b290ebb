"""The OSS test server's own checks: its CRC-64 is oss2's, also for multipart objects."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

ACCESS_KEY_ID, ACCESS_KEY_SECRET, BUCKET = "dflow-test-ak", "dflow-test-secret", "dflow-test"  # as conftest.py

MiB = 1024 * 1024


def _server_module():
    spec = importlib.util.spec_from_file_location("oss_server_under_test", Path(__file__).with_name("oss_server.py"))
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
            assert server.crc64_combine(server.crc64(head), server.crc64(tail), len(tail)) == \
                server.crc64_reference(data)


def test_plain_oss2_with_its_crc_checks_accepts_the_server(oss_server):
    import oss2

    bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), oss_server.endpoint, BUCKET,
                         enable_crc=True)  # oss2 compares its crcmod CRC with the server's
    key = f"server-{os.urandom(4).hex()}/parts"
    data = os.urandom(2 * MiB + 11)
    upload_id = bucket.init_multipart_upload(key).upload_id
    parts = [oss2.models.PartInfo(n, bucket.upload_part(key, upload_id, n, chunk).etag)
             for n, chunk in ((1, data[:MiB]), (2, data[MiB:]))]
    result = bucket.complete_multipart_upload(key, upload_id, parts)
    reference = oss2.utils.Crc64()
    reference.update(data)
    assert result.crc == reference.crc  # the parts' CRCs combined, as one pass would give
    got = bucket.get_object(key)
    assert got.read() == data  # the whole-object GET is CRC-checked by oss2 at the end
    assert got.server_crc == reference.crc

"""OSS-specific behaviour: errors a user sees, integrity checks, retries, md5, part copies, plugin."""

from __future__ import annotations

import hashlib
import os

import pytest
from dflow.config import ConfigError
from dflow.plugins.manager import PluginManager
from dflow.storage import AccessDenied, BucketMissing, IntegrityError, NotFound, Unreachable
from dflow.testing.ports import refused_port
from dflow_storage_oss import OSSClient, OSSConfig

MiB = 1024 * 1024


@pytest.fixture
def prefix(request):
    return f"{request.node.name[:40]}-{os.urandom(4).hex()}/"


def _file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_wrong_secret_is_a_clear_credentials_error(make_client, prefix, tmp_path):
    bad = make_client(access_key_secret="wrong-secret")
    with pytest.raises(AccessDenied) as info:
        bad.upload(prefix + "f", _file(tmp_path, "f", b"x"))
    message = str(info.value)
    assert "SignatureDoesNotMatch" in message and prefix + "f" in message
    assert "access_key_secret" in message and "OSS_ACCESS_KEY_SECRET" in message
    assert "bucket 'dflow-test' at http://127.0.0.1:" in message


def test_unknown_access_key_id(make_client, prefix):
    with pytest.raises(AccessDenied) as info:
        make_client(access_key_id="nobody").list(prefix)
    assert "InvalidAccessKeyId" in str(info.value)


def test_missing_bucket(make_client, prefix, tmp_path):
    client = make_client(bucket_name="no-such-bucket")
    with pytest.raises(BucketMissing) as info:
        client.upload(prefix + "f", _file(tmp_path, "f", b"x"))
    assert "OSS bucket 'no-such-bucket' at http://127.0.0.1:" in str(info.value)
    assert "does not exist (upload of" in str(info.value)
    assert "create the bucket" in str(info.value)
    with pytest.raises(BucketMissing):  # a HEAD carries the error in x-oss-err
        client.get_md5(prefix + "f")
    with pytest.raises(BucketMissing):
        client.list(prefix)


def test_unreachable_endpoint(make_client, prefix, tmp_path):
    with refused_port() as port:
        client = make_client(endpoint=f"http://127.0.0.1:{port}", retries=2)
        with pytest.raises(Unreachable) as info:
            client.download(prefix + "f", str(tmp_path / "out"))
        assert f"cannot reach OSS endpoint http://127.0.0.1:{port}" in str(info.value)
        assert "check the endpoint" in str(info.value)
        assert not (tmp_path / "out").exists()


def test_missing_key_names_the_key_not_the_prefix(make_client, prefix, tmp_path):
    client = make_client(prefix="repo/")
    with pytest.raises(NotFound) as info:
        client.get_md5(prefix + "nope")
    assert f"no object '{prefix}nope'" in str(info.value)


def test_corrupted_download_raises_integrity_error(oss_server, make_client, prefix, tmp_path):
    client = make_client(retries=2)
    client.upload(prefix + "f", _file(tmp_path, "f", os.urandom(5000)))
    dest = tmp_path / "out" / "f"
    oss_server.corrupt_next_gets(2)  # every attempt gets a flipped byte
    with pytest.raises(IntegrityError) as info:
        client.download(prefix + "f", str(dest))
    assert "does not match the checksum OSS reported" in str(info.value)
    assert not dest.exists()  # nothing half-written left behind
    assert os.listdir(tmp_path / "out") == []


def test_corruption_once_is_retried(oss_server, make_client, prefix, tmp_path):
    data = os.urandom(5000)
    client = make_client()
    client.upload(prefix + "f", _file(tmp_path, "f", data))
    oss_server.corrupt_next_gets(1)
    client.download(prefix + "f", str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == data


def test_corrupted_range_of_parallel_download(oss_server, make_client, prefix, tmp_path):
    data = os.urandom(3 * MiB + 17)
    client = make_client(multipart_threshold=MiB, part_size=MiB, retries=1)
    client.upload(prefix + "big", _file(tmp_path, "big", data))
    # the whole-object GET is abandoned for ranged GETs, so the 2nd GET (a range) is corrupted
    oss_server.corrupt_next_gets(2)
    with pytest.raises(IntegrityError):
        client.download(prefix + "big", str(tmp_path / "out"))
    client.download(prefix + "big", str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == data


def test_transient_server_errors_are_retried(oss_server, make_client, prefix, tmp_path):
    client = make_client(retries=4)
    oss_server.fail_next(2)
    client.upload(prefix + "f", _file(tmp_path, "f", b"after two 503s"))
    client.download(prefix + "f", str(tmp_path / "out"))
    assert (tmp_path / "out").read_text() == "after two 503s"


def test_multipart_upload_keeps_md5_and_copy_by_parts(make_client, prefix, tmp_path):
    data = os.urandom(5 * MiB + 3)
    client = make_client(multipart_threshold=MiB, part_size=MiB, copy_threshold=2 * MiB)
    client.upload(prefix + "big", _file(tmp_path, "big", data))
    assert client.get_md5(prefix + "big") == hashlib.md5(data).hexdigest()
    client.copy(prefix + "big", prefix + "copy")  # above copy_threshold: UploadPartCopy
    assert client.get_md5(prefix + "copy") == hashlib.md5(data).hexdigest()
    client.download(prefix + "copy", str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == data


def test_get_md5_of_objects_written_by_other_tools(make_client, prefix):
    import oss2

    client = make_client()
    data = os.urandom(300_000)
    client.bucket.put_object(prefix + "plain", data)  # no dflow metadata: the ETag is the MD5
    assert client.get_md5(prefix + "plain") == hashlib.md5(data).hexdigest()
    upload_id = client.bucket.init_multipart_upload(prefix + "parts").upload_id
    parts = [
        oss2.models.PartInfo(
            n, client.bucket.upload_part(prefix + "parts", upload_id, n, chunk).etag
        )
        for n, chunk in ((1, data[:150_000]), (2, data[150_000:]))
    ]
    client.bucket.complete_multipart_upload(prefix + "parts", upload_id, parts)
    assert client.get_md5(prefix + "parts") == hashlib.md5(data).hexdigest()  # hashed


def test_prefix_is_applied_and_stripped(make_client, prefix, tmp_path):
    client = make_client(prefix="repo-root/")
    client.upload(prefix + "a/b", _file(tmp_path, "f", b"x"))
    assert client.list(prefix, recursive=True) == [prefix + "a/b"]
    assert make_client().list("repo-root/" + prefix, recursive=True) == [
        "repo-root/" + prefix + "a/b"
    ]


def test_pydflow_constructor_reads_env(monkeypatch, oss_server):
    monkeypatch.setenv("OSS_ENDPOINT", oss_server.endpoint)
    monkeypatch.setenv("OSS_BUCKET_NAME", "dflow-test")
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "dflow-test-ak")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "dflow-test-secret")
    from dflow.config import s3_config

    monkeypatch.setitem(s3_config, "repo_prefix", "from-s3-config/")
    client = OSSClient()
    assert (client.endpoint, client.bucket_name, client.prefix) == (
        oss_server.endpoint,
        "dflow-test",
        "from-s3-config/",
    )
    assert isinstance(client.list("x/"), list)


def test_missing_configuration_says_what_to_set(monkeypatch):
    for name in ("OSS_ENDPOINT", "OSS_BUCKET_NAME", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as info:
        OSSClient(endpoint="oss-cn-hangzhou.aliyuncs.com", bucket_name="b", access_key_id="ak")
    assert "access_key_secret is not set" in str(info.value)
    assert "OSS_ACCESS_KEY_SECRET" in str(info.value)
    client = OSSClient(
        endpoint="oss-cn-hangzhou.aliyuncs.com",
        bucket_name="b",
        access_key_id="a",
        access_key_secret="s",
    )
    assert client.endpoint == "https://oss-cn-hangzhou.aliyuncs.com"  # no network until used


def test_plugin_record_builds_a_client_from_config(oss_server, tmp_path):
    from dflow.settings import structure

    manager = PluginManager(allow=["storage-oss"])
    record = manager.storage("oss")
    assert record.artifact_kind == "oss" and record.config_type is OSSConfig
    assert manager.provider("storage", "oss").distribution == "dflow-storage-oss"
    config = structure(
        {
            "endpoint": oss_server.endpoint,
            "bucket_name": "dflow-test",
            "access_key_id": "dflow-test-ak",
            "access_key_secret": "dflow-test-secret",
            "prefix": "cfg/",
        },
        OSSConfig,
        source="test",
    )
    client = record.factory(config)
    assert isinstance(client, OSSClient) and client.prefix == "cfg/"
    client.upload("k", _file(tmp_path, "f", b"via plugin"))
    assert client.list("", recursive=True) == ["k"]


def test_corrupted_part_upload_is_retried(oss_server, make_client, prefix, tmp_path):
    data = os.urandom(3 * MiB + 5)
    client = make_client(multipart_threshold=MiB, part_size=MiB, workers=1)
    oss_server.corrupt_next_puts(1)  # part 1 arrives damaged once: its CRC differs, it is re-sent
    client.upload(prefix + "big", _file(tmp_path, "big", data))
    client.download(prefix + "big", str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == data


def test_corrupted_part_upload_fails_clearly_and_leaves_no_object(
    oss_server, make_client, prefix, tmp_path
):
    client = make_client(multipart_threshold=MiB, part_size=MiB, workers=1, retries=2)
    oss_server.corrupt_next_puts(2)  # both attempts at part 1
    with pytest.raises(IntegrityError) as info:
        client.upload(prefix + "big", _file(tmp_path, "big", os.urandom(3 * MiB)))
    message = str(info.value)
    assert f"OSS upload of '{prefix}big' in bucket 'dflow-test' at http://127.0.0.1:" in message
    assert "does not match the checksum OSS reported" in message
    assert f"upload of part 1 of '{prefix}big': CRC-64 of the data here is" in message
    assert client.list(prefix, recursive=True) == []  # the multipart upload was aborted


def test_corrupted_single_put_is_rejected_by_content_md5(oss_server, make_client, prefix, tmp_path):
    client = make_client(retries=2)
    oss_server.corrupt_next_puts(2)
    with pytest.raises(IntegrityError) as info:
        client.upload(prefix + "f", _file(tmp_path, "f", os.urandom(5000)))
    assert "its MD5 does not match the Content-MD5 sent (InvalidDigest)" in str(info.value)
    assert client.list(prefix, recursive=True) == []
    oss_server.corrupt_next_puts(1)  # once: the retry goes through
    client.upload(prefix + "f", _file(tmp_path, "f", b"second try"))
    client.download(prefix + "f", str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == b"second try"


def test_streamed_put_between_inline_and_multipart(make_client, prefix, tmp_path, monkeypatch):
    import dflow_storage_oss.client as module

    monkeypatch.setattr(
        module, "INLINE", 1000
    )  # 5000 bytes: streamed from the file, CRC on the way
    data = os.urandom(5000)
    client = make_client()
    client.upload(prefix + "f", _file(tmp_path, "f", data))
    assert client.get_md5(prefix + "f") == hashlib.md5(data).hexdigest()
    client.download(prefix + "f", str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == data


def test_crc64_matches_oss2_and_combines():
    import oss2
    from dflow_storage_oss import _crc

    data = os.urandom(300_001)
    reference = oss2.utils.Crc64()
    reference.update(data)
    assert _crc.crc64(data) == reference.crc
    assert _crc.crc64(data[1000:], _crc.crc64(data[:1000])) == reference.crc
    for cut in (0, 1, 150_000, 300_001):
        head, tail = data[:cut], data[cut:]
        assert _crc.combine(_crc.crc64(head), _crc.crc64(tail), len(tail)) == reference.crc


def test_download_new_writes_in_place_and_cleans_up(make_client, prefix, tmp_path):
    client = make_client()
    client.upload(prefix + "f", _file(tmp_path, "f", b"direct"))
    client.download_new(prefix + "f", str(tmp_path / "direct"))
    assert (tmp_path / "direct").read_bytes() == b"direct"
    with pytest.raises(NotFound):
        client.download_new(prefix + "nope", str(tmp_path / "nope"))
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("lean", [True, False])
def test_small_objects_through_lean_or_oss2_path(make_client, prefix, tmp_path, lean):
    client = make_client(lean_requests=lean)
    assert (client.lean is not None) is lean
    data = os.urandom(70_000)
    client.upload(prefix + "f.json", _file(tmp_path, "f", data))
    head = client.bucket.head_object(prefix + "f.json")
    assert head.content_type == "application/json"  # guessed from the key, as oss2 does
    assert head.headers["x-oss-meta-dflow-md5"] == hashlib.md5(data).hexdigest()
    for _ in range(3):  # the kept-alive connection is reused
        client.download(prefix + "f.json", str(tmp_path / "out"))
        assert (tmp_path / "out").read_bytes() == data
    with pytest.raises(NotFound) as info:
        client.download(prefix + "missing", str(tmp_path / "missing"))
    assert f"no object '{prefix}missing'" in str(info.value)
    client.download(prefix + "f.json", str(tmp_path / "again"))  # usable after an error answer
    assert (tmp_path / "again").read_bytes() == data


def test_lean_path_survives_a_server_closed_connection(oss_server, make_client, prefix, tmp_path):
    client = make_client()
    client.upload(prefix + "f", _file(tmp_path, "f", b"one"))
    client.lean._local.conn.sock.close()  # as if the server had dropped the idle connection
    client.upload(prefix + "f", _file(tmp_path, "f", b"two"))
    client.download(prefix + "f", str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == b"two"


def test_proxy_in_the_environment_turns_the_lean_path_off(monkeypatch, make_client):
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert make_client().lean is None


def test_completed_object_with_a_wrong_crc_is_removed(monkeypatch, make_client, prefix, tmp_path):
    from dflow_storage_oss import _crc

    client = make_client(multipart_threshold=MiB, part_size=MiB)
    monkeypatch.setattr(_crc, "combine", lambda crc1, crc2, len2: 12345)  # as if a part went astray
    with pytest.raises(IntegrityError) as info:
        client.upload(prefix + "big", _file(tmp_path, "big", os.urandom(2 * MiB + 1)))
    assert (
        f"upload of '{prefix}big' (the completed object): CRC-64 of the data here is 12345"
        in str(info.value)
    )
    assert client.list(prefix, recursive=True) == []  # not left behind as if complete

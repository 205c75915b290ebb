"""GCS-specific behaviour: errors a user sees, integrity checks, md5, prefix, plugin record."""

from __future__ import annotations

import hashlib
import os

import pytest
from dflow.config import ConfigError
from dflow.plugins.manager import PluginManager
from dflow.storage import BucketMissing, IntegrityError, NotFound, Unreachable
from dflow.testing.ports import refused_port
from dflow_storage_gcs import GCSClient, GCSConfig


@pytest.fixture
def prefix(request):
    return f"{request.node.name[:40]}-{os.urandom(4).hex()}/"


def _file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_missing_bucket(make_client, prefix, tmp_path):
    client = make_client(bucket_name="no-such-bucket")
    for action in (
        lambda: client.upload(prefix + "f", _file(tmp_path, "f", b"x")),
        lambda: client.download(prefix + "f", str(tmp_path / "out")),
        lambda: client.list(prefix),
        lambda: client.get_md5(prefix + "f"),
    ):
        with pytest.raises(BucketMissing) as info:
            action()
        assert "GCS bucket 'no-such-bucket' at http://127.0.0.1:" in str(info.value)
        assert "does not exist" in str(info.value) and "create the bucket" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_missing_key(make_client, prefix, tmp_path):
    client = make_client()
    with pytest.raises(NotFound) as info:
        client.get_md5(prefix + "nope")
    assert f"no object '{prefix}nope' in bucket 'dflow-test'" in str(info.value)
    with pytest.raises(NotFound):
        client.copy(prefix + "nope", prefix + "dst")
    assert client.list(prefix, recursive=True) == []


def test_unreachable_endpoint(make_client, prefix, tmp_path):
    with refused_port() as port:
        client = make_client(endpoint=f"http://127.0.0.1:{port}", retry_timeout=1.0)
        with pytest.raises(Unreachable) as info:
            client.download(prefix + "f", str(tmp_path / "out"))
        assert f"cannot reach GCS endpoint http://127.0.0.1:{port}" in str(info.value)
        assert not (tmp_path / "out").exists()


def test_damaged_object_raises_integrity_error(gcs_disk_emulator, make_client, prefix, tmp_path):
    client = make_client(integrity_retries=1, endpoint=gcs_disk_emulator.endpoint)
    client.upload(prefix + "f", _file(tmp_path, "f", b"the stored bytes, checksummed at upload"))
    stored = gcs_disk_emulator.object_path(prefix + "f")
    damaged = bytearray(open(stored, "rb").read())
    damaged[0] ^= 0xFF
    with open(stored, "wb") as f:  # the emulator now serves bytes that differ from its CRC32C
        f.write(damaged)
    dest = tmp_path / "out" / "f"
    with pytest.raises(IntegrityError) as info:
        client.download(prefix + "f", str(dest))
    assert "does not match the checksum GCS reported" in str(info.value)
    assert not dest.exists() and os.listdir(tmp_path / "out") == []


def test_resumable_upload_md5_and_copy(make_client, prefix, tmp_path):
    data = os.urandom(5 * 1024 * 1024 + 11)
    client = make_client(resumable_threshold=1024 * 1024, part_size=1024 * 1024)
    client.upload(prefix + "big", _file(tmp_path, "big", data))
    client.copy(prefix + "big", prefix + "copy")
    assert client.get_md5(prefix + "copy") == hashlib.md5(data).hexdigest()
    client.download(prefix + "copy", str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == data


def test_get_md5_of_a_composite_object_is_computed(make_client, prefix):
    client = make_client()
    parts = [client.bucket.blob(prefix + f"p{i}") for i in range(2)]
    parts[0].upload_from_string(b"first half, ")
    parts[1].upload_from_string(b"second half")
    composed = client.bucket.blob(prefix + "whole")
    composed.compose(parts)
    assert client.get_md5(prefix + "whole") == hashlib.md5(b"first half, second half").hexdigest()


def test_prefix_is_applied_and_stripped(make_client, prefix, tmp_path):
    client = make_client(prefix="repo-root/")
    client.upload(prefix + "a/b", _file(tmp_path, "f", b"x"))
    assert client.list(prefix) == [prefix + "a/"]
    assert make_client().list("repo-root/" + prefix, recursive=True) == [
        "repo-root/" + prefix + "a/b"
    ]


def test_configuration_errors(monkeypatch):
    monkeypatch.delenv("GCS_BUCKET_NAME", raising=False)
    with pytest.raises(ConfigError) as info:
        GCSClient(project="p")
    assert "bucket_name is not set" in str(info.value) and "GCS_BUCKET_NAME" in str(info.value)
    with pytest.raises(ValueError, match="multiple of 256 KiB"):
        GCSConfig(bucket_name="b", part_size=1000)


def test_env_defaults(monkeypatch, gcs_emulator):
    monkeypatch.setenv("GCS_BUCKET_NAME", "dflow-test")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.endpoint)
    client = GCSClient()
    assert (client.bucket_name, client.endpoint) == ("dflow-test", gcs_emulator.endpoint)
    assert isinstance(client.list("nothing-here/"), list)


def test_plugin_record_builds_a_client_from_config(gcs_emulator, tmp_path):
    from dflow.settings import structure

    manager = PluginManager(allow=["storage-gcs"])
    record = manager.storage("gcs")
    assert record.artifact_kind == "gcs" and record.config_type is GCSConfig
    assert manager.provider("storage", "gcs").distribution == "dflow-storage-gcs"
    config = structure(
        {
            "bucket_name": "dflow-test",
            "endpoint": gcs_emulator.endpoint,
            "prefix": "cfg/",
            "project": "p",
        },
        GCSConfig,
        source="test",
    )
    client = record.factory(config)
    assert isinstance(client, GCSClient) and client.prefix == "cfg/"
    key = f"plugin-{os.urandom(4).hex()}"
    client.upload(key, _file(tmp_path, "f", b"via plugin"))
    assert client.list(key) == [key]

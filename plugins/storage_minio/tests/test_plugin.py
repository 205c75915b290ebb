"""The plugin registers through its entry point and builds clients from configuration."""

from __future__ import annotations

import subprocess
import sys

from dflow.plugins.manager import PluginManager
from dflow_storage_minio import MinioClient, MinioConfig


def test_entry_point_registers_minio_with_s3_alias():
    pm = PluginManager(allow={"storage-minio"})
    pm.load()
    record = pm.storage("minio")
    assert pm.storage("s3") is record
    assert record.artifact_kind == "s3" and record.config_type is MinioConfig
    assert pm.provider("storage", "minio").distribution == "dflow-storage-minio"


def test_factory_builds_a_client(seaweedfs, bucket_client, tmp_path):
    pm = PluginManager(allow={"storage-minio"})
    pm.load()
    config = MinioConfig(
        endpoint=seaweedfs.endpoint,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
        bucket_name=bucket_client.bucket,
    )
    client = pm.storage("minio").factory(config)
    assert isinstance(client, MinioClient)
    src = tmp_path / "f"
    src.write_text("through the factory")
    client.upload("plugin/f", str(src))
    assert client.list("plugin/") == ["plugin/f"]
    assert "secret_key" not in repr(config)  # never printed


def test_entry_module_is_light():
    # `dflow --help` must not pay for boto3: the entry module imports it lazily
    code = "import sys, dflow_storage_minio.plugin; print('boto3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""Fixtures: the OSS test server, run as its own process on loopback and stopped by PID."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _load_server_module():
    name = "dflow_storage_oss_tests_oss_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("oss_server.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


ACCESS_KEY_ID = "dflow-test-ak"
ACCESS_KEY_SECRET = "dflow-test-secret"
BUCKET = "dflow-test"
REGION = "cn-dflow-test"


@pytest.fixture(scope="session")
def oss_server():
    """A running OSS test server (``.endpoint``, ``.corrupt_next_gets(n)``, ``.fail_next(n)``)."""
    module = _load_server_module()
    server = module.OSSServerProcess(
        "--access-key-id", ACCESS_KEY_ID, "--access-key-secret", ACCESS_KEY_SECRET,
        "--bucket", BUCKET, "--region", REGION,
    ).start()
    yield server
    server.stop()


@pytest.fixture
def make_client(oss_server, tmp_path):
    """Build an OSSClient for the test server; keywords override the defaults."""
    from dflow_storage_oss import OSSClient

    def make(**overrides):
        options = dict(
            endpoint=oss_server.endpoint, bucket_name=BUCKET, access_key_id=ACCESS_KEY_ID,
            access_key_secret=ACCESS_KEY_SECRET, prefix="", checkpoint_dir=str(tmp_path / "ckpt"),
            multipart_threshold=8 * 1024 * 1024, part_size=2 * 1024 * 1024, retries=3,
        )
        options.update(overrides)
        return OSSClient(**options)

    return make

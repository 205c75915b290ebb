"""The ``local`` fixture of tests/test_cache*.py and the cache in an S3 bucket (apart from
cache_ops.py, which pods import for its OPs and which must not need pytest)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest


@pytest.fixture(name="local")  # imported as local_fixture: a test's ``local`` shadows no import
def local_fixture(tmp_path, monkeypatch):
    """The local engine in ``tmp_path/runs`` (also the current directory), the cache in
    ``tmp_path/cache``, a side-effect log in ``tmp_path/log``."""
    from dflow.config import config

    saved = dict(config)
    config.update(mode="local", debug_workdir=str(tmp_path / "runs"), debug_pool_workers=1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DFLOW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DFLOW_CACHE", raising=False)
    (tmp_path / "log").mkdir()
    yield tmp_path
    config.clear()
    config.update(saved)


@contextlib.contextmanager
def cache_in_s3(monkeypatch, server, location: str) -> Iterator[None]:
    """The cache in ``location`` (``s3://bucket/prefix`` on the SeaweedFS ``server``), reached
    with the configured storage's endpoint and credentials (s3_config): none in this
    process's environment."""
    from dflow.config import s3_config
    from dflow.runner.caches3 import ACCESS_ENV, SECRET_ENV

    saved = dict(s3_config)
    s3_config.update(
        endpoint=server.endpoint,
        secure=False,
        access_key=server.access_key,
        secret_key=server.secret_key,
    )
    monkeypatch.setenv("DFLOW_CACHE_DIR", location)
    monkeypatch.delenv(ACCESS_ENV, raising=False)
    monkeypatch.delenv(SECRET_ENV, raising=False)
    try:
        yield
    finally:
        s3_config.clear()
        s3_config.update(saved)

"""Configuration of the ``oss`` storage (the ``[storages.oss]`` section of ``dflow.toml``)."""

from __future__ import annotations

import os
from typing import Any

import attrs

MiB = 1024 * 1024


def _env(name: str) -> Any:  # an attrs default: attrs.Factory
    return attrs.Factory(lambda: os.environ.get(name))


@attrs.define
class OSSConfig:
    """Where the bucket is and how to talk to it.

    ``endpoint``, ``bucket_name``, ``access_key_id`` and ``access_key_secret`` default to the
    ``OSS_ENDPOINT``, ``OSS_BUCKET_NAME``, ``OSS_ACCESS_KEY_ID`` and ``OSS_ACCESS_KEY_SECRET``
    environment variables. ``prefix`` is prepended to every key (pydflow's ``repo_prefix``).
    An endpoint without a scheme gets ``https://`` (``http://`` with ``secure=False``).
    """

    endpoint: str | None = _env("OSS_ENDPOINT")
    bucket_name: str | None = _env("OSS_BUCKET_NAME")
    access_key_id: str | None = _env("OSS_ACCESS_KEY_ID")
    access_key_secret: str | None = _env("OSS_ACCESS_KEY_SECRET")
    prefix: str = ""
    secure: bool = True
    #: "v1" (HMAC-SHA1) or "v4" (OSS4-HMAC-SHA256, needs ``region``)
    auth_version: str = "v1"
    region: str | None = _env("OSS_REGION")
    #: files at least this large are uploaded in parts, and downloaded by ranges in parallel
    multipart_threshold: int = 64 * MiB
    part_size: int = 16 * MiB
    #: threads moving the parts of one large object (each holds one part in memory on upload)
    workers: int = 4
    #: objects above this are copied part by part (OSS's CopyObject stops at 1 GiB)
    copy_threshold: int = 1024 * MiB
    #: attempts per request for transient errors (network, 5xx, CRC mismatch)
    retries: int = 4
    connect_timeout: float = 10.0
    #: single-object PUTs and GETs on plain ``http.client`` connections (oss2 still builds and
    #: signs them): a third of the client CPU per small object; off, or with a proxy, all
    #: requests go through oss2's requests session
    lean_requests: bool = True
    #: unused: uploads no longer keep checkpoint files (a failed part is retried by itself and a
    #: failed upload is aborted); accepted so that existing configurations still load
    checkpoint_dir: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.auth_version not in ("v1", "v4"):
            raise ValueError(f"OSS auth_version must be 'v1' or 'v4', not {self.auth_version!r}")
        if self.part_size < 100 * 1024:
            raise ValueError(
                f"OSS part_size must be at least 100 KiB (OSS's minimum), not {self.part_size}"
            )

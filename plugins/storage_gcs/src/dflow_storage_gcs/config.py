"""Configuration of the ``gcs`` storage (the ``[storages.gcs]`` section of ``dflow.toml``)."""

from __future__ import annotations

import os
from typing import Any

import attrs

MiB = 1024 * 1024


def _env(*names: str) -> Any:  # an attrs default: attrs.Factory
    return attrs.Factory(lambda: next((os.environ[n] for n in names if os.environ.get(n)), None))


@attrs.define
class GCSConfig:
    """Which bucket, and how to reach and authenticate to it.

    ``bucket_name`` defaults to ``GCS_BUCKET_NAME``, ``project`` to ``GOOGLE_CLOUD_PROJECT``,
    ``endpoint`` to ``STORAGE_EMULATOR_HOST`` (set it for an emulator; None is Google's API).
    Credentials: ``credentials_file`` (a service-account JSON), else Application Default
    Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud, metadata server); ``anonymous=True``
    sends none (public buckets, emulators). ``prefix`` is prepended to every key.
    """

    bucket_name: str | None = _env("GCS_BUCKET_NAME")
    project: str | None = _env("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT")
    endpoint: str | None = _env("STORAGE_EMULATOR_HOST")
    credentials_file: str | None = None
    prefix: str = ""
    anonymous: bool = False
    #: files at least this large go through a resumable upload, in ``part_size`` chunks; each
    #: chunk is one request held in memory. 100 MiB is the SDK's own default: fewer, larger
    #: requests are faster on GCS (and emulators that append chunks by copying), and a failed
    #: chunk is resent alone
    resumable_threshold: int = 8 * MiB
    part_size: int = 100 * MiB
    #: objects at least this large are downloaded as ``download_part_size`` ranges fetched by
    #: ``download_workers`` threads (1: always one stream)
    sliced_download_threshold: int = 256 * MiB
    download_part_size: int = 64 * MiB
    download_workers: int = 4
    #: seconds the SDK keeps retrying transient errors (network, 429, 5xx) of one call
    retry_timeout: float = 60.0
    #: seconds to wait for one HTTP answer
    timeout: float = 60.0
    #: extra attempts at a whole transfer whose checksum did not match
    integrity_retries: int = 2

    def __attrs_post_init__(self) -> None:
        if self.part_size % (256 * 1024):
            raise ValueError(f"GCS part_size must be a multiple of 256 KiB, not {self.part_size}")

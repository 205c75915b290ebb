"""Configuration of the ``minio`` storage (``[storages.minio]`` in ``dflow.toml``)."""

from __future__ import annotations

import attrs

MiB = 1024 * 1024


@attrs.define
class MinioConfig:
    """Where the S3-compatible store is and how to move data.

    Connection fields left unset (None) take their value from ``dflow.s3_config`` when the
    client is used (so ``set_s3_config`` and the ``DFLOW_S3_*`` variables keep working); its
    defaults are ``endpoint="127.0.0.1:9000"``, ``access_key="admin"``,
    ``secret_key="password"``, ``secure=False``, ``bucket_name="my-bucket"``, ``prefix=""``.
    ``prefix`` is the key prefix of uploaded artifacts (``s3_config["prefix"]``).
    """

    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = attrs.field(default=None, repr=False)
    secure: bool | None = None
    bucket_name: str | None = None
    prefix: str | None = None
    region: str = "us-east-1"
    #: files at least this big are uploaded in parts and downloaded by parallel ranged GETs
    multipart_threshold: int = 64 * MiB
    multipart_chunksize: int = 16 * MiB
    max_concurrency: int = 8
    #: seconds to wait for a TCP connection: an unreachable endpoint fails fast
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    #: attempts per request for transient errors (botocore's standard retry mode, with backoff)
    max_attempts: int = 4
    addressing_style: str = "path"
    #: check MD5s/ETags of uploads and downloads
    verify_integrity: bool = True
    #: the checksum a single-request upload carries: "md5" (``Content-MD5``, checked by every
    #: S3 server) or "crc32" (``x-amz-checksum-crc32``: about 0.2 ms less CPU per 100 kB object;
    #: only for servers that check it: AWS S3, SeaweedFS, recent MinIO and Ceph)
    upload_checksum: str = attrs.field(
        default="md5", validator=attrs.validators.in_(("md5", "crc32"))
    )
    #: move small objects with lean SigV4 requests instead of botocore (about 3x less CPU);
    #: off, every request goes through boto3
    lean_requests: bool = True

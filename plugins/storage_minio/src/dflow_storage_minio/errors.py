"""botocore exceptions -> :mod:`dflow.storage.errors`, with the key and the store named."""

from __future__ import annotations

from typing import Any

from dflow.storage.errors import (
    AccessDenied,
    BucketMissing,
    NotFound,
    StorageError,
    Unreachable,
)

_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "403",
    "Forbidden",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
}
_MISSING = {"NoSuchKey", "404", "NotFound"}


def _bucket_missing(client: Any) -> bool:
    try:
        return not client.bucket_exists()
    except Exception:  # the original error is the one to report
        return False


def translate(exc: BaseException, client: Any, key: str, what: str, **ctx: Any) -> BaseException:
    """The dflow storage error for ``exc`` raised while doing ``what`` on ``key``."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, S3UploadFailedError) and exc.__context__ is not None:
        # the managed transfer wraps the server's answer: report that answer
        return translate(exc.__context__, client, key, what, **ctx)
    store = client.store
    if isinstance(
        exc,
        EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError | ReadTimeoutError,
    ):
        return Unreachable(
            f"{what} of '{key}': cannot reach {client.url} ({exc})", key=key, store=store
        )
    if isinstance(exc, NoCredentialsError):
        return AccessDenied(f"{what} of '{key}': no credentials configured", key=key, store=store)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket" or (code in _MISSING and _bucket_missing(client)):
            return BucketMissing(
                f"{what} of '{key}': bucket '{client.bucket}' does not exist", key=key, store=store
            )
        if code in _MISSING or status == 404:
            return NotFound(f"{what}: no object '{key}' in {store}", key=key, store=store)
        if code in _DENIED or status == 403:
            return AccessDenied(
                f"{what} of '{key}' refused ({code}): wrong access_key/secret_key or no permission",
                key=key,
                store=store,
            )
        if code == "InvalidBucketName":
            return BucketMissing(
                f"{what} of '{key}': invalid bucket name '{client.bucket}'",
                key=key,
                store=store,
                hint="use 3-63 lower-case letters, digits, '-'",
            )
        return StorageError(
            f"{what} of '{key}' failed: {code} {error.get('Message', '')}".strip(),
            key=key,
            store=store,
        )
    if isinstance(exc, OSError) and ctx.get("path"):
        return StorageError(
            f"{what} of '{key}': local file '{ctx['path']}': {exc}", key=key, store=store
        )
    return exc

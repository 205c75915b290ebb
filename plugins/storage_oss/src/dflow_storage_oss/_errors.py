"""oss2's exceptions, told apart (transient or not) and turned into dflow's storage errors."""

from __future__ import annotations

from typing import Any

from dflow.storage.errors import (
    AccessDenied,
    BucketMissing,
    IntegrityError,
    NotFound,
    StorageError,
    Unreachable,
)

_CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch")


def is_transient(exc: BaseException) -> bool:
    """Network errors, 5xx/429 answers and damaged data (a CRC mismatch, or a body OSS
    rejected for its Content-MD5) are worth another attempt."""
    import oss2

    if isinstance(exc, oss2.exceptions.RequestError | oss2.exceptions.InconsistentError):
        return True
    if isinstance(exc, oss2.exceptions.ServerError):
        return exc.status >= 500 or exc.status == 429 or exc.code == "InvalidDigest"
    return isinstance(exc, ConnectionError | TimeoutError)


def translate(exc: BaseException, *, op: str, key: str, client: Any) -> BaseException:
    """The dflow :class:`StorageError` a user should see for ``exc`` (others pass through)."""
    import oss2

    errors = oss2.exceptions
    store = client.store
    if isinstance(exc, StorageError) or not isinstance(exc, errors.OssError):
        return exc
    if isinstance(exc, errors.NoSuchBucket):
        return BucketMissing(f"OSS {store} does not exist ({op} of '{key}')", key=key, store=store)
    if isinstance(exc, errors.NotFound):
        return NotFound(f"no object '{key}' in {store}", key=key, store=store)
    if isinstance(exc, errors.RequestError):
        reason = type(getattr(exc, "exception", exc)).__name__
        return Unreachable(
            f"cannot reach OSS endpoint {client.endpoint} ({op} of '{key}': {reason})",
            key=key,
            store=store,
        )
    if isinstance(exc, errors.InconsistentError):
        return IntegrityError(
            f"OSS {op} of '{key}' in {store}: the data received does not match the checksum OSS "
            f"reported ({str(exc.body).removeprefix('InconsistentError: ')})",
            key=key,
            store=store,
        )
    if isinstance(exc, errors.ServerError) and exc.code == "InvalidDigest":
        return IntegrityError(
            f"OSS {op} of '{key}' in {store}: OSS rejected the data it received, its MD5 does not "
            "match the Content-MD5 sent (InvalidDigest): it was damaged on the way",
            key=key,
            store=store,
        )
    if isinstance(exc, errors.ServerError) and exc.status == 412:
        # only ranged reads pinned with If-Match send a precondition
        return StorageError(
            f"OSS {op} of '{key}' in {store}: the object was overwritten while it was being read",
            key=key,
            store=store,
            hint="read it again once the writer has finished",
        )
    if isinstance(exc, errors.ServerError):
        code, message = exc.code or f"HTTP {exc.status}", exc.message or ""
        if exc.status == 403:
            if code in _CREDENTIAL_CODES:
                hint = (
                    "check access_key_id and access_key_secret (OSS_ACCESS_KEY_ID / "
                    "OSS_ACCESS_KEY_SECRET or the [storages.oss] section)"
                )
            else:
                hint = (
                    f"the credentials of access key '{client.config.access_key_id}' are not "
                    "allowed this operation; check its RAM policy for the bucket"
                )
            return AccessDenied(
                f"OSS refused {op} of '{key}' in {store}: {code}: {message}",
                key=key,
                store=store,
                hint=hint,
            )
        return StorageError(
            f"OSS {op} of '{key}' failed in {store}: HTTP {exc.status} {code}: {message}",
            key=key,
            store=store,
            hint="",
        )
    return StorageError(
        f"OSS {op} of '{key}' failed in {store}: {exc}", key=key, store=store, hint=""
    )

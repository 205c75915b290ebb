"""google-cloud-storage's exceptions turned into dflow's storage errors."""

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

_CREDENTIALS_HINT = (
    "check credentials_file (a service-account JSON) or GOOGLE_APPLICATION_CREDENTIALS, and "
    "that this identity has a Storage role on the bucket; use anonymous=True only for emulators "
    "and public buckets"
)


def is_corruption(exc: BaseException) -> bool:
    """A transfer whose checksum did not match: worth one more attempt."""
    from google.cloud.storage.exceptions import DataCorruption

    from ._download import ChecksumMismatch

    kinds: tuple[type, ...] = (DataCorruption, ChecksumMismatch)
    try:
        from google.resumable_media.common import DataCorruption as LegacyDataCorruption
    except ImportError:  # pragma: no cover - newer releases fold resumable-media in
        pass
    else:
        kinds += (LegacyDataCorruption,)
    return isinstance(exc, kinds)


def _is_network(exc: BaseException | None) -> bool:
    import requests

    return isinstance(
        exc, ConnectionError | TimeoutError | requests.ConnectionError | requests.Timeout
    )


def translate(exc: BaseException, *, op: str, key: str, client: Any) -> BaseException:
    """The dflow :class:`StorageError` a user should see for ``exc`` (others pass through)."""
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    store = client.store
    if isinstance(exc, StorageError):
        return exc
    if is_corruption(exc):
        first_line = (str(exc).strip().splitlines() or [""])[0].rstrip(":")
        return IntegrityError(
            f"GCS {op} of '{key}' in {store}: the data received does not match the "
            f"checksum GCS reported ({first_line})",
            key=key,
            store=store,
        )
    if isinstance(exc, api.NotFound):
        if not client.bucket_exists():
            return BucketMissing(
                f"GCS {store} does not exist ({op} of '{key}')", key=key, store=store
            )
        return NotFound(f"no object '{key}' in {store}", key=key, store=store)
    if isinstance(exc, api.Forbidden | api.Unauthorized | auth.GoogleAuthError):
        return AccessDenied(
            f"GCS refused {op} of '{key}' in {store}: credentials rejected or not "
            f"allowed ({getattr(exc, 'message', exc)})",
            key=key,
            store=store,
            hint=_CREDENTIALS_HINT,
        )
    cause = exc.cause if isinstance(exc, api.RetryError) else exc
    if _is_network(cause):
        return Unreachable(
            f"cannot reach GCS endpoint {client.endpoint} ({op} of '{key}': "
            f"{type(cause).__name__})",
            key=key,
            store=store,
        )
    if isinstance(exc, api.RetryError):
        return StorageError(
            f"GCS {op} of '{key}' in {store} kept failing for retry_timeout="
            f"{client.config.retry_timeout}s: {cause}",
            key=key,
            store=store,
            hint="",
        )
    if isinstance(exc, api.GoogleAPICallError):
        return StorageError(
            f"GCS {op} of '{key}' failed in {store}: HTTP {exc.code}: {exc.message}",
            key=key,
            store=store,
            hint="",
        )
    return exc

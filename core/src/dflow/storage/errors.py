"""Errors raised by storage clients and the artifact API.

Every error names the object (key or artifact), the store it was looked for in (for an object
store: endpoint and bucket) and what the user can do about it. Storage plugins translate their
SDK's exceptions into these, so callers handle one family whatever the backend.
"""

from __future__ import annotations


class StorageError(RuntimeError):
    """A storage operation failed. ``key`` and ``store`` say which object and where."""

    #: what the user can do, appended to the message when the raiser gives no hint
    default_hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        store: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.key = key
        self.store = store
        self.hint = self.default_hint if hint is None else hint
        parts = [message]
        if store and store not in message:
            parts.append(f"(store: {store})")
        text = " ".join(parts)
        if self.hint:
            text = f"{text}: {self.hint}"
        super().__init__(text)


class NotFound(StorageError, FileNotFoundError):
    """The key (or a local path to upload) does not exist."""

    default_hint = "check the key or path; list the prefix to see what is stored"


class AccessDenied(StorageError, PermissionError):
    """The store refused the credentials or the operation."""

    default_hint = (
        "check access_key/secret_key (s3_config or the plugin's config section) "
        "and the permissions of that identity"
    )


#: pydflow users think of this case as "wrong credentials"
CredentialsError = AccessDenied


class Unreachable(StorageError, ConnectionError):
    """The store's endpoint did not answer (after retries)."""

    default_hint = (
        "check the endpoint (host:port, secure=http/https) and that the server is running"
    )


class IntegrityError(StorageError):
    """Transferred bytes do not match the stored checksum (after retries)."""

    default_hint = "the object or the network corrupted the data; retry, or re-upload the object"


class BucketMissing(StorageError):
    """The configured bucket does not exist."""

    default_hint = "create the bucket, or set bucket_name to an existing one"


def describe_store(endpoint: str | None, bucket: str | None) -> str:
    """``endpoint/bucket`` as shown in error messages (``s3://bucket at endpoint``)."""
    if endpoint and bucket:
        return f"bucket '{bucket}' at {endpoint}"
    return endpoint or (f"bucket '{bucket}'" if bucket else "the store")


__all__ = [
    "AccessDenied",
    "BucketMissing",
    "CredentialsError",
    "IntegrityError",
    "NotFound",
    "StorageError",
    "Unreachable",
    "describe_store",
]

"""Entry point of the ``dflow-storage-gcs`` plugin (light: google-cloud-storage is imported by the client)."""

from __future__ import annotations

import atexit
import datetime
import os
import shutil
import tempfile
import threading
import time
from typing import Any

from dflow.plugins import hookimpl
from dflow.plugins.records import CacheAccess, StorageRecord

from .config import GCSConfig


def _make_client(config: GCSConfig | None = None):
    from .client import GCSClient

    return GCSClient.from_config(config or GCSConfig())


_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
#: refresh a minted token this long before it expires
REFRESH_BEFORE = 300.0
#: (credentials file, ADC file) -> the file holding its token, kept fresh by a thread; None
#: when there were no credentials (this process does not look again)
_token_files: dict = {}
_lock = threading.Lock()


def _token_file(config: GCSConfig) -> str:
    """A file holding an access token of this storage's credentials (a service-account file,
    else Application Default Credentials), "" when there are none here. A thread of this
    process refreshes the token before it expires, so workers of a run longer than a token's
    hour keep reaching the cache (they read the file again when it changes)."""
    import google.auth
    import google.auth.exceptions
    from google.auth.transport.requests import Request

    # a service-account file, else ADC (which GOOGLE_APPLICATION_CREDENTIALS may point at)
    source = (config.credentials_file or "", os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"))
    with _lock:
        if source in _token_files:
            # none found before: finding ADC may ping a metadata server, once is enough
            return _token_files[source] or ""
        try:
            if config.credentials_file:
                from google.oauth2 import service_account

                creds = service_account.Credentials.from_service_account_file(
                    config.credentials_file, scopes=[_SCOPE]
                )
            else:
                creds, _project = google.auth.default(scopes=[_SCOPE])
            creds.refresh(Request())
        except (google.auth.exceptions.GoogleAuthError, OSError, ValueError):
            _token_files[source] = None
            return ""
        folder = tempfile.mkdtemp(prefix="dflow-gcs-token-")  # mode 0700: this user only
        path = os.path.join(folder, "token")
        _write_token(path, str(creds.token or ""))
        atexit.register(shutil.rmtree, folder, True)
        threading.Thread(
            target=_keep_fresh, args=(creds, path), name="dflow-gcs-token", daemon=True
        ).start()
        _token_files[source] = path
        return path


def _write_token(path: str, token: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    os.replace(tmp, path)  # a reader sees the old token or the new one, never half of one


def _keep_fresh(creds: Any, path: str) -> None:
    """Refresh ``creds`` ``REFRESH_BEFORE`` seconds before they expire and write the new token
    to ``path``; a failed refresh is tried again after 30 s. Ends when the file's folder is
    gone (the process is exiting)."""
    import google.auth.exceptions
    from google.auth.transport.requests import Request

    while os.path.isdir(os.path.dirname(path)):
        expiry = creds.expiry  # naive UTC, as google-auth keeps it
        # naive UTC now, as the expiry is (utcnow() is deprecated since Python 3.12)
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        left = (expiry - now).total_seconds() if expiry else 3000.0
        time.sleep(min(max(left - REFRESH_BEFORE, 1.0), 3000.0))
        try:
            creds.refresh(Request())
            _write_token(path, str(creds.token or ""))
        except (google.auth.exceptions.GoogleAuthError, OSError, ValueError):
            time.sleep(30)


def _cache_access(config: GCSConfig | None = None) -> CacheAccess:
    """The step cache in a gs:// bucket: this storage's endpoint; an emulator's or an
    anonymous storage's runners send no token; the local engine's workers read a token minted
    from this storage's credentials from a file this process refreshes, Argo pods (and workers when none can be minted here) ask
    the metadata server (docs/cache.md)."""
    from dflow.runner.gcs import ANONYMOUS, FILE_PREFIX, GOOGLE, METADATA, TOKEN_ENV

    c = config or GCSConfig()
    endpoint = (c.endpoint or GOOGLE).rstrip("/")
    if c.anonymous or (c.endpoint and not c.credentials_file):  # as the client: no credentials
        return CacheAccess(endpoint=endpoint, plain={TOKEN_ENV: ANONYMOUS})
    token_file = _token_file(c)
    workers = {TOKEN_ENV: FILE_PREFIX + token_file} if token_file else {}
    return CacheAccess(endpoint=endpoint, plain={TOKEN_ENV: METADATA}, workers=workers)


@hookimpl
def dflow_storage_clients() -> list[StorageRecord]:
    return [
        StorageRecord(
            name="gcs",
            factory=_make_client,
            config_type=GCSConfig,
            artifact_kind="gcs",
            cache_access=_cache_access,
            description="Google Cloud Storage bucket (google-cloud-storage), or a GCS emulator",
        )
    ]

"""Entry point of the ``dflow-storage-gcs`` plugin (light: google-cloud-storage is imported by the client)."""

from __future__ import annotations

import os

from dflow.plugins import hookimpl
from dflow.plugins.records import CacheAccess, StorageRecord

from .config import GCSConfig


def _make_client(config: GCSConfig | None = None):
    from .client import GCSClient

    return GCSClient.from_config(config or GCSConfig())


_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
#: (credentials file, ADC file) -> google-auth credentials (they keep their token), or None
#: when there were none (this process does not look again)
_minted: dict = {}


def _token(config: GCSConfig) -> str:
    """An access token of this storage's credentials (a service-account file, else
    Application Default Credentials); "" when there are none here."""
    import google.auth
    import google.auth.exceptions
    from google.auth.transport.requests import Request

    # a service-account file, else ADC (which GOOGLE_APPLICATION_CREDENTIALS may point at)
    source = (config.credentials_file or "", os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"))
    if source in _minted and _minted[source] is None:
        return ""  # none found before: finding ADC may ping a metadata server, once is enough
    try:
        creds = _minted.get(source)
        if creds is None:
            if config.credentials_file:
                from google.oauth2 import service_account

                creds = service_account.Credentials.from_service_account_file(
                    config.credentials_file, scopes=[_SCOPE]
                )
            else:
                creds, _project = google.auth.default(scopes=[_SCOPE])
            _minted[source] = creds
        if not creds.valid:
            creds.refresh(Request())
        return str(creds.token or "")
    except (google.auth.exceptions.GoogleAuthError, OSError, ValueError):
        _minted.setdefault(source, None)
        return ""


def _cache_access(config: GCSConfig | None = None) -> CacheAccess:
    """The step cache in a gs:// bucket: this storage's endpoint; an emulator's or an
    anonymous storage's runners send no token; the local engine's workers get a token minted
    from this storage's credentials, Argo pods (and workers when none can be minted here) ask
    the metadata server (docs/cache.md)."""
    from dflow.runner.gcs import ANONYMOUS, GOOGLE, METADATA, TOKEN_ENV

    c = config or GCSConfig()
    endpoint = (c.endpoint or GOOGLE).rstrip("/")
    if c.anonymous or (c.endpoint and not c.credentials_file):  # as the client: no credentials
        return CacheAccess(endpoint=endpoint, plain={TOKEN_ENV: ANONYMOUS})
    token = _token(c)
    workers = {TOKEN_ENV: token} if token else {}
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

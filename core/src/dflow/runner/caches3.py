"""The step cache's entries in an S3 bucket: ``s3://bucket/prefix``, the layout of a cache
directory under the prefix.

Standard library only (Python 3.7+), through :mod:`dflow.runner.s3`. Objects are put first
(each PUT carries the sha256 of its body, which the server checks), the manifest last: an entry
exists when its manifest does, and a manifest is put only after its objects. A PUT is atomic
per key, so concurrent writers of one entry leave one whole manifest (both are sound: the
objects are addressed by content). A history record is one object per run (an object cannot be
appended to), filed by step name, then workflow name
(``history/<step>/<workflow>/<time>-<run>-<random>.json``), so ``dflow explain`` lists one
step's records by prefix and reads only those of the workflows the asked run ran it in.

Credentials come from the environment, never from the spec (which engines write into scripts
and manifests): ``DFLOW_CACHE_S3_ACCESS_KEY``, ``DFLOW_CACHE_S3_SECRET_KEY`` and optionally
``DFLOW_CACHE_S3_SESSION_TOKEN``. The local engine sets them in its workers from the
configured storage; on Argo they come from a Kubernetes Secret (docs/cache.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from typing import Any

from . import cacheentries as entries

ACCESS_ENV = "DFLOW_CACHE_S3_ACCESS_KEY"
SECRET_ENV = "DFLOW_CACHE_S3_SECRET_KEY"
TOKEN_ENV = "DFLOW_CACHE_S3_SESSION_TOKEN"
#: the location schemes a cache may have (others: a clear error, see docs/cache.md)
SCHEMES = ("s3://", "oss://", "gs://")


#: a key segment kept as it is (workflow and step names are); others become a digest
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def key_part(text: str) -> str:
    """``text`` as one segment of an object key: itself when plain, else ``~`` and a digest."""
    if _PLAIN.fullmatch(text):
        return text
    return "~" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def history_key(step: str, run: str) -> str:
    """Where a record of ``run`` of ``step`` (``<workflow>/<step name>``) goes, under the
    prefix: by step name, then workflow, then time (names sort by time) and run."""
    workflow, sep, name = step.partition("/")
    if not sep:
        workflow, name = "", step
    stamp = f"{time.time_ns():020d}-{key_part(run)}-{uuid.uuid4().hex[:8]}"
    return f"history/{key_part(name)}/{key_part(workflow)}/{stamp}.json"


def run_of_history_key(name: str) -> str:
    """The run segment of a history record's name (``<time>-<run>-<random>.json``)."""
    return name[:-5].partition("-")[2].rpartition("-")[0]


class CacheLocationError(ValueError):
    """A cache location the runner cannot use (bad form, unsupported store, no credentials)."""


def split_location(location: str) -> tuple[str, str]:
    """(bucket, key prefix ending in "/" or "") of ``s3://bucket[/prefix]`` (oss://, gs://)."""
    scheme = next((s for s in SCHEMES if location.startswith(s)), "")
    if not scheme:
        raise CacheLocationError(f"cache location {location!r} is not s3://bucket[/prefix]")
    bucket, _, prefix = location[len(scheme) :].partition("/")
    prefix = prefix.strip("/")
    if not bucket:
        raise CacheLocationError(f"cache location {location!r} names no bucket")
    return bucket, prefix + "/" if prefix else ""


class BucketStore:
    """The entries under ``<scheme>://bucket/prefix``, through ``client``: an object client
    with ``get``, ``download``, ``size``, ``put``, ``upload``, ``delete``, ``list`` and
    ``list_dated`` as :class:`dflow.runner.s3.S3` has them (and ``oss.OSS``, ``gcs.GCS``)."""

    digests_dir = None  # content digests of big inputs are not memoised in a bucket

    def __init__(self, location: str, client: Any) -> None:
        self.bucket, self.prefix = split_location(location)
        self.client = client

    def _manifest_key(self, key: str) -> str:
        return f"{self.prefix}entries/{key[:2]}/{key}.json"

    def _object_key(self, sha: str) -> str:
        return f"{self.prefix}objects/{sha[:2]}/{sha}"

    def _size(self, sha: str) -> int:
        size = self.client.size(self.bucket, self._object_key(sha))
        if size is None:
            raise FileNotFoundError(sha)
        return size

    def read_manifest(self, key: str) -> tuple[dict | None, str]:
        try:
            text = self.client.get(self.bucket, self._manifest_key(key))
            if text is None:
                return None, "missing"
            return entries.check_manifest(text, key, self._size)
        except OSError as exc:
            return None, f"unreadable manifest ({exc})"

    def _fetch(self, sha: str, dst: str) -> None:
        if not self.client.download(self.bucket, self._object_key(sha), dst):
            raise FileNotFoundError(f"object {sha} is gone")

    def _drop(self, sha: str) -> None:
        self.client.delete(self.bucket, self._object_key(sha))

    def restore(self, manifest: dict, outputs_dir: str) -> str:
        return entries.restore("", manifest, outputs_dir, fetch=self._fetch, drop=self._drop)

    def _put(self, sha: str, path: str, size: int) -> None:
        try:
            if self._size(sha) == size:
                return  # stored before, by this entry's twin or another entry
        except FileNotFoundError:
            pass
        self.client.upload(self.bucket, self._object_key(sha), path, sha, size)

    def scan_and_store(self, outputs_dir: str, listed: dict | None = None) -> dict:
        return entries.scan_and_store("", outputs_dir, put=self._put, listed=listed)

    def publish_manifest(self, key: str, manifest: dict) -> dict | None:
        """Put the manifest: of concurrent writers the last one's stays, and each is sound
        (the same key, objects by content), so no read before the PUT."""
        body = entries.encode_manifest(manifest)
        try:
            self.client.put(self.bucket, self._manifest_key(key), body)
        except OSError:
            return None
        return manifest

    def discard(self, key: str) -> None:
        try:
            self.client.delete(self.bucket, self._manifest_key(key))
        except OSError:
            pass

    def append_history(self, step: str, entry: dict) -> None:
        try:
            body = entries.dumps(entry).encode("utf-8")
            where = history_key(step, str(entry.get("run", "")))
            self.client.put(self.bucket, self.prefix + where, body)
        except OSError:
            pass  # explanations are lost, results are not

    # -- managing the cache (dflow cache ls|show|prune, dflow explain) ------------------
    def keys(self) -> list:
        """The keys of every entry."""
        base = f"{self.prefix}entries/"
        names = (k[len(base) :].rpartition("/")[2] for k, _ in self.client.list(self.bucket, base))
        return sorted(n[:-5] for n in names if n.endswith(".json"))

    def objects(self) -> list:
        """(sha, size, last modified) of every object."""
        base = f"{self.prefix}objects/"
        found = self.client.list_dated(self.bucket, base)
        return [(k.rpartition("/")[2], size, when) for k, size, when in found]

    def drop_object(self, sha: str) -> None:
        self._drop(sha)

    def step_histories(self, name: str | None, run: str | None = None) -> list:
        """The history records (lists of dicts, in no order) of each workflow's step named
        ``name`` (of every step when None), of the workflows with a record of ``run`` only
        (every one when None): one listing of the step's prefix (of ``history/``), then a
        GET per record of those."""
        base = f"{self.prefix}history/" + ("" if name is None else f"{key_part(name)}/")
        groups: dict = {}
        for k, _size in self.client.list(self.bucket, base):
            # <workflow>/<leaf> under a step's prefix, <step>/<workflow>/<leaf> under history/
            group, _, leaf = k[len(base) :].rpartition("/")
            groups.setdefault(group, []).append((k, run_of_history_key(leaf)))
        found = []
        for listed in groups.values():
            if run is not None and all(r != key_part(run) for _k, r in listed):
                continue
            records = []
            for k, _r in listed:
                try:
                    record = json.loads((self.client.get(self.bucket, k) or b"").decode("utf-8"))
                except ValueError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
            found.append(records)
        return found


class S3Store(BucketStore):
    """The entries under ``s3://bucket/prefix`` at ``endpoint``."""

    def __init__(
        self,
        location: str,
        endpoint: str,
        region: str = "",
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        access = access_key or os.environ.get(ACCESS_ENV)
        secret = secret_key or os.environ.get(SECRET_ENV)
        if not access or not secret:
            raise CacheLocationError(
                f"cache location {location}: no credentials: {ACCESS_ENV} and {SECRET_ENV} "
                "are not set where the step runs (the engines set them from the configured "
                "storage; see docs/cache.md)"
            )
        if not endpoint:
            raise CacheLocationError(f"cache location {location}: no S3 endpoint given")
        token = os.environ.get(TOKEN_ENV, "")
        # imported here: the client brings http.client, ssl and ElementTree, which a run that
        # only reads these names (the engine's settings at start-up) never needs
        from .s3 import S3

        super().__init__(location, S3(endpoint, access, secret, region or "us-east-1", token))

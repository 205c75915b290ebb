"""Artifact drivers and archives as Argo's executor uses them (S3 through boto3, raw, http).

Each function follows one piece of Argo's source, cited beside it. Errors carry Argo's texts
(the node message quotes them); :class:`NotFound` is Argo's ``CodeNotFound``, which makes an
``optional`` artifact skipped rather than failed.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import os
import posixpath
import shutil
import tarfile
import threading
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conformance.common import HarnessError, cache_dir

# boto3's low-level clients are thread-safe (its guide, "Multithreading or multiprocessing with
# clients"); its sessions are not. One client per endpoint serves every pod thread: a client
# per thread cost 70-200 ms each time a test's server started its pod threads.
_clients: dict[tuple[str, ...], Any] = {}
_clients_lock = threading.Lock()


class ArtifactError(Exception):
    """An artifact could not be loaded or saved; the text is what Argo reports."""


class NotFound(ArtifactError):
    """argoerrs.CodeNotFound: the object, file or URL does not exist."""


def s3_client(s3: dict[str, Any], repo: Any) -> Any:
    """A boto3 client for an ``s3`` location; credentials are the repository's (the
    emulation has no Kubernetes secrets to read ``accessKeySecret`` from)."""
    import boto3
    from botocore.config import Config

    endpoint = s3.get("endpoint") or repo.endpoint
    scheme = "http" if s3.get("insecure", repo.insecure) else "https"
    region = s3.get("region") or repo.region
    key = (endpoint, scheme, repo.access_key, repo.secret_key, region)
    with _clients_lock:
        if key in _clients:
            return _clients[key]
        _clients[key] = client = boto3.session.Session().client(
            "s3",
            endpoint_url=f"{scheme}://{endpoint}",
            aws_access_key_id=repo.access_key,
            aws_secret_access_key=repo.secret_key,
            region_name=region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )
    return client


def _code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def _message(exc: Exception) -> str:
    # minio-go reports the server's <Message> (e.g. "The specified key does not exist.")
    err = getattr(exc, "response", {}).get("Error", {})
    return err.get("Message") or err.get("Code") or str(exc)


# -- locations (pkg/apis/workflow/v1alpha1/workflow_types.go, v3.7.18) ----------------------


def has_location(art: dict[str, Any] | None) -> bool:
    """ArtifactLocation.HasLocation (workflow_types.go, v3.7.18): s3 needs endpoint, bucket
    and key; raw and http are always complete."""
    art = art or {}
    if "s3" in art:
        s3 = art["s3"] or {}
        return bool(s3.get("endpoint") and s3.get("bucket") and s3.get("key"))
    return "raw" in art or bool((art.get("http") or {}).get("url"))


def has_key(art: dict[str, Any]) -> bool:
    return bool((art.get("s3") or {}).get("key"))


def clean_path(art: dict[str, Any]) -> str:
    """Artifact.CleanPath: the cleaned path; a ``..`` that leaves the directory before it is
    refused (directory traversal), an empty path is an error."""
    path = art.get("path") or ""
    if not path:
        raise ArtifactError(f"Artifact '{art.get('name')}' did not specify a path")
    safe = ""
    if "/../" in path:
        safe = path[: path.index("/../")]
    elif path.endswith("/.."):
        safe = path[:-3]
    cleaned = posixpath.normpath(path)
    if safe and (not cleaned.startswith(safe + "/") or len(cleaned) <= len(safe) + 1):
        raise ArtifactError(
            f"Artifact '{art.get('name')}' attempted to use a path containing "
            "'..'. Directory traversal is not permitted"
        )
    return cleaned


def relocate(art: dict[str, Any], location: dict[str, Any] | None) -> dict[str, Any]:
    """Artifact.Relocate: a key-only artifact takes the archive location's bucket/endpoint."""
    if has_location(art):
        return art
    if not (location or {}).get("s3"):
        raise ArtifactError("template artifact location not set")
    out = copy.deepcopy(art)
    out["s3"] = {**location["s3"], "key": (art.get("s3") or {}).get("key", "")}
    return out


# -- S3 (workflow/artifacts/s3/s3.go, v3.7.18) ------------------------------------------------


def load_s3(client: Any, bucket: str, key: str, path: Path) -> None:
    """loadS3Artifact: the object at ``key``; NoSuchKey -> the keys under ``key/`` as a
    directory (IsDirectory/GetDirectory); neither -> NotFound with the original message."""
    from botocore.exceptions import ClientError

    try:
        resp = client.get_object(Bucket=bucket, Key=key)
        # SeaweedFS answers "prefix/" with its directory entry (an empty application/x-directory
        # object) where S3 and MinIO answer NoSuchKey: read it as S3 would
        if not (
            key.endswith("/")
            and resp.get("ContentType") == "application/x-directory"
            and not resp.get("ContentLength")
        ):
            _write(resp["Body"], path)
            return
    except ClientError as exc:
        if _code(exc) not in ("NoSuchKey", "404", "NotFound"):
            raise ArtifactError(f"failed to get file: {_message(exc)}") from exc
    objects = list_directory(client, bucket, key)
    if not objects:
        raise NotFound("The specified key does not exist.")

    def get(obj: dict[str, Any]) -> None:
        # GetDirectory trims the key as given (not cleaned) and joins the rest to the path
        local = Path(os.path.normpath(os.path.join(path, obj["Key"][len(key) :].lstrip("/"))))
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            _fetch(client, bucket, obj, local)
        except ClientError as exc:
            raise ArtifactError(f"failed to get directory: {_message(exc)}") from exc

    # GetDirectory fetches one by one; in parallel here, only to keep the tests fast
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(get, objects))


def _write(body: Any, path: Path) -> None:
    tmp = Path(f"{path}.part")
    with open(tmp, "wb") as out:
        shutil.copyfileobj(body, out, 1 << 20)
    os.replace(tmp, path)


_pruned: list[bool] = []


def prune_object_cache(max_age: float = 3 * 86400) -> None:
    """Drop cached objects not used for ``max_age`` seconds (once per process)."""
    if _pruned:
        return
    _pruned.append(True)
    import time

    folder = cache_dir() / "objects"
    if not folder.is_dir():
        return
    limit = time.time() - max_age
    for entry in os.scandir(folder):
        try:
            if entry.stat().st_mtime < limit:
                os.unlink(entry.path)
        except OSError:
            pass


def _fetch(client: Any, bucket: str, obj: dict[str, Any], path: Path) -> None:
    """GET one listed object. Its content is cached under the object's identity (endpoint,
    bucket, key, ETag, size, mtime from the listing), so the same dflow packages are not
    fetched again by every pod of a session; the listing itself always hits the server."""
    if os.environ.get("DFLOW_CONFORMANCE_OBJECT_CACHE", "1") == "0":
        _write(client.get_object(Bucket=bucket, Key=obj["Key"])["Body"], path)
        return
    ident = repr(
        (
            client.meta.endpoint_url,
            bucket,
            obj["Key"],
            obj.get("ETag"),
            obj.get("Size"),
            str(obj.get("LastModified")),
        )
    )
    prune_object_cache()
    cached = cache_dir() / "objects" / hashlib.sha256(ident.encode()).hexdigest()
    if cached.exists():
        os.utime(cached)  # in use: keep it
    else:
        cached.parent.mkdir(parents=True, exist_ok=True)
        part = Path(f"{cached}.{threading.get_ident()}")
        _write(client.get_object(Bucket=bucket, Key=obj["Key"])["Body"], part)
        os.replace(part, cached)
    shutil.copyfile(cached, path)


def list_directory(client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """ListDirectory: every object under ``clean(key) + "/"``, "directory" marker keys skipped."""
    from botocore.exceptions import ClientError

    prefix = posixpath.normpath(key) + "/" if key else ""
    out: list[dict[str, Any]] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out += [o for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    except ClientError as exc:
        raise ArtifactError(f"failed to test if {key} is a directory: {_message(exc)}") from exc
    return out


def save_s3(client: Any, bucket: str, key: str, path: Path) -> None:
    """saveS3Artifact: a file to ``key``; a directory as one object per file under ``key/``
    (PutDirectory: symlinks skipped)."""
    from botocore.exceptions import ClientError

    try:
        if not path.is_dir():
            client.upload_file(str(path), bucket, key)
            return
        for root, _dirs, files in os.walk(path):
            for name in sorted(files):
                local = Path(root, name)
                if local.is_symlink():
                    continue
                client.upload_file(
                    str(local), bucket, posixpath.join(key, local.relative_to(path).as_posix())
                )
    except ClientError as exc:
        kind = "directory" if path.is_dir() else "file"
        raise ArtifactError(f"failed to put {kind}: {_message(exc)}") from exc


# -- raw and http (workflow/artifacts/{raw/raw.go,http/http.go}, v3.7.18) ----------------------


def load_raw(data: str, path: Path) -> None:
    path.write_text(data)


def load_http(http: dict[str, Any], path: Path) -> None:
    """retrieveContent: 404 is NotFound (an optional artifact is skipped), other non-2xx fail."""
    url = http["url"]
    req = urllib.request.Request(
        url, headers={h["name"]: h["value"] for h in http.get("headers") or []}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp, open(path, "wb") as out:
            shutil.copyfileobj(resp, out)
    except urllib.error.HTTPError as exc:
        status = f"{exc.code} {exc.reason}"
        if exc.code == 404:
            raise NotFound(status) from exc
        raise ArtifactError(f"loading content from {url} failed with reason: {status}") from exc


def load(art: dict[str, Any], path: Path, repo: Any) -> None:
    """Fetch ``art`` (already relocated to its full location) to ``path``."""
    if "s3" in art:
        s3 = art["s3"]
        load_s3(s3_client(s3, repo), s3.get("bucket") or repo.bucket, s3["key"], path)
    elif "raw" in art:
        load_raw(art["raw"].get("data", ""), path)
    elif "http" in art:
        load_http(art["http"], path)
    else:
        kinds = sorted(
            set(art)
            - {
                "name",
                "path",
                "mode",
                "optional",
                "archive",
                "from",
                "subPath",
                "recurseMode",
                "globalName",
                "description",
            }
        )
        raise HarnessError(
            f"input artifact {art.get('name')!r}: the emulation loads s3, raw and "
            f"http artifacts, not {kinds}"
        )


# -- archives (workflow/executor/executor.go, util/archive/archive.go, v3.7.18) ---------------


def is_tarball(path: Path) -> bool:
    """isTarball: detected by content (a gzip stream whose first tar header reads), not by name."""
    if not path.is_file():
        return False
    try:
        with gzip.open(path) as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
            return tar.next() is not None
    except (OSError, EOFError, tarfile.TarError):
        return False


def untar(tar_path: Path, dest: Path) -> None:
    """untar + unpack: extract into ``dest.tmpdir``; a single top-level entry becomes ``dest``
    itself, several make ``dest`` a directory of them. Entries escaping ``dest`` are refused."""
    tmp = Path(str(dest) + ".tmpdir")
    tmp.mkdir(parents=True, exist_ok=True)
    with gzip.open(tar_path) as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
        for member in tar:
            target = Path(os.path.normpath(os.path.join(tmp, member.name)))
            if not str(target).startswith(str(tmp) + os.sep):
                raise ArtifactError(f"illegal file path: {member.name}")
            if member.issym():
                link = (
                    member.linkname
                    if os.path.isabs(member.linkname)
                    else os.path.join(target.parent, member.linkname)
                )
                if not os.path.normpath(link).startswith(str(tmp) + os.sep):
                    raise ArtifactError(
                        f"illegal symlink target: {member.name} -> {member.linkname}"
                    )
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(member.linkname, target)
            elif member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                with open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                os.chmod(target, member.mode & 0o7777)
                os.utime(target, (member.mtime, member.mtime))
            # other types (hard links, devices) are ignored, as Argo's untar ignores them
    _unpack(tmp, dest)


def unzip(zip_path: Path, dest: Path) -> None:
    tmp = Path(str(dest) + ".tmpdir")
    tmp.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = Path(os.path.normpath(os.path.join(tmp, info.filename)))
            if not str(target).startswith(str(tmp) + os.sep):
                raise ArtifactError(f"{target}: Illegal file path")
            zf.extract(info, tmp)
    _unpack(tmp, dest)


def _unpack(tmp: Path, dest: Path) -> None:
    entries = os.listdir(tmp)
    if len(entries) == 1:
        os.rename(tmp / entries[0], dest)
        tmp.rmdir()
    else:
        os.rename(tmp, dest)


def tar_gz(src: Path, dst: Path, level: int = 6) -> None:
    """TarGzToWriter: a file as one entry named after it; a directory as its base name and
    everything under it (symlinks stored as links). Missing source -> NotFound."""
    src = Path(os.path.abspath(src))
    if not src.exists():
        raise NotFound(f"stat {src}: no such file or directory")
    if not (src.is_file() or src.is_dir()):
        raise ArtifactError(f"{src} is not a regular file or directory")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(dst, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        if src.is_file():
            tar.add(src, arcname=src.name, recursive=False)
            return
        for root, dirs, files in os.walk(src):
            dirs.sort()
            rel = Path(root).relative_to(src)
            tar.add(root, arcname=(Path(src.name) / rel).as_posix(), recursive=False)
            for name in sorted(files) + [d for d in dirs if Path(root, d).is_symlink()]:
                tar.add(
                    Path(root, name),
                    arcname=(Path(src.name) / rel / name).as_posix(),
                    recursive=False,
                )


def chmod(path: Path, mode: int, recurse: bool) -> None:
    """chmod of ``mode`` on the loaded artifact, and everything under it with recurseMode."""
    os.chmod(path, mode)
    if recurse:
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chmod(os.path.join(root, name), mode)

"""The step cache in an Aliyun OSS bucket (``oss://bucket/prefix``) and in a Google Cloud
Storage bucket (``gs://bucket/prefix``), through the runner's own stdlib clients.

OSS: the project's OSS protocol server (plugins/storage_oss/tests/oss_server.py), which checks
V1 and V4 signatures and Content-MD5; the signers also agree with oss2's. GCS: the
gcp-storage-emulator the storage plugin's tests run (no auth), and a stand-in metadata server
for the token a GKE pod would get. Endpoints and credentials come from the storage plugins'
configuration (OSS_* / STORAGE_EMULATOR_HOST here), as docs/cache.md says.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import shutil
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from dflow.cache import list_entries
from dflow.cache.cli import explain_lines
from dflow.cli import main as dflow_main
from dflow.config_keys import IgnoredConfigWarning
from dflow.runner import cache as rcache
from dflow.runner import cacheentries as rentries
from dflow.runner import gcs as rgcs
from dflow.runner import oss as ross
from dflow.runner.cacheobj import StoreError

sys.path.insert(0, str(Path(__file__).parent))
from cache_fixtures import local_fixture  # noqa: F401 (the fixture)
from cache_ops import computed, fan_out, files_holding, run, step_log
from test_conformance import run as engine_run  # noqa: F401 (the engines' fixture)

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings(
    f"ignore::{IgnoredConfigWarning.__module__}.IgnoredConfigWarning"
)


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- servers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gcs_server():
    pytest.importorskip("dflow_storage_gcs")
    fixtures = _load(ROOT / "plugins/storage_gcs/tests/conftest.py", "dflow_gcs_cache_fixtures")
    emulator = fixtures.GCSEmulator().start()
    yield emulator
    emulator.stop()


class Bucket:
    """One backend as a test sees it: the location, a raw client of the bucket, the secret
    that must never be written anywhere."""

    def __init__(self, scheme: str, bucket: str, client, secret: str = "") -> None:
        self.scheme, self.bucket, self.client, self.secret = scheme, bucket, client, secret
        self.prefix = f"team/{uuid.uuid4().hex[:8]}"
        self.location = f"{scheme}://{bucket}/{self.prefix}"

    def keys(self, under: str) -> list:
        return [k for k, _ in self.client.list(self.bucket, f"{self.prefix}/{under}")]

    def get(self, key: str) -> bytes | None:
        return self.client.get(self.bucket, key)

    def put(self, key: str, data: bytes) -> None:
        self.client.put(self.bucket, key, data)


def _oss_env(monkeypatch, server, secret: str | None = None, region: str = "") -> None:
    monkeypatch.setenv("OSS_ENDPOINT", server.endpoint)
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", secret or server.secret_key)
    if region:
        monkeypatch.setenv("OSS_REGION", region)


@pytest.fixture(params=["oss", "gs"])
def remote(request, monkeypatch):
    """The cache in an oss:// or a gs:// bucket (a fresh prefix), configured as a user would:
    the storage plugin's settings (here its environment variables)."""
    for name in (ross.ACCESS_ENV, ross.SECRET_ENV, rgcs.TOKEN_ENV):
        monkeypatch.delenv(name, raising=False)
    rcache._STORES.clear()
    if request.param == "oss":
        server = request.getfixturevalue("oss_server")
        _oss_env(monkeypatch, server)
        client = ross.OSS(server.endpoint, server.access_key, server.secret_key)
        found = Bucket("oss", server.bucket, client, server.secret_key)
    else:
        server = request.getfixturevalue("gcs_server")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.endpoint)
        found = Bucket("gs", server.bucket, rgcs.GCS(server.endpoint))
    monkeypatch.setenv("DFLOW_CACHE_DIR", found.location)
    monkeypatch.delenv("DFLOW_CACHE", raising=False)
    yield found
    rcache._STORES.clear()


# -- the OSS signers -------------------------------------------------------------------------


def _oss2_request(method: str, params: dict, headers: dict, region: str | None = None):
    oss2 = pytest.importorskip("oss2")
    url = "http://127.0.0.1:1/b/dir/a%20b%2Bc.txt"
    request = oss2.http.Request(
        method, url, params=params, headers=headers, region=region, product="oss"
    )
    return oss2, request


@pytest.mark.parametrize(
    ("method", "params", "headers"),
    [
        ("GET", {}, {"date": "Sun, 06 Dec 2026 10:00:00 GMT"}),
        (
            "PUT",
            {},
            {
                "date": "Sun, 06 Dec 2026 10:00:00 GMT",
                "Content-MD5": "eB5eJF1ptWaXm4bijSPyxw==",
                "Content-Type": "application/octet-stream",
                "x-oss-security-token": "sts-token",
            },
        ),
        (
            "GET",
            {"list-type": "2", "prefix": "dir/", "continuation-token": "abc"},
            {"date": "Sun, 06 Dec 2026 10:00:00 GMT"},
        ),
    ],
)
def test_the_oss_signers_agree_with_oss2(method, params, headers):
    """oss2 (Aliyun's SDK) signs the same request: V1 and V4 give its signature."""
    oss2, req = _oss2_request(method, params, dict(headers))
    oss2.Auth("AKID", "secret/key+")._sign_request(req, "b", "dir/a b+c.txt")
    ours = ross.sign_v1(method, "/b/dir/a b+c.txt", dict(req.headers), params, "secret/key+")
    assert req.headers["authorization"] == f"OSS AKID:{ours}"
    _oss2, req = _oss2_request(method, params, dict(headers), region="cn-hangzhou")
    oss2.AuthV4("AKID", "secret/key+")._sign_request(req, "b", "dir/a b+c.txt")
    stamp = req.headers["x-oss-date"]
    ours = ross.sign_v4(
        method,
        "/b/dir/a b+c.txt",
        dict(req.headers),
        params,
        "AKID",
        "secret/key+",
        "cn-hangzhou",
        stamp,
    )
    assert req.headers["authorization"] == ours


@pytest.mark.parametrize("region", ["", "cn-dflow-test"], ids=["v1", "v4"])
def test_the_oss_client_talks_to_a_server_that_checks_signatures(oss_server, region):
    client = ross.OSS(oss_server.endpoint, oss_server.access_key, oss_server.secret_key, region)
    key = f"c/{uuid.uuid4().hex[:6]}/with space+plus~é"
    client.put(oss_server.bucket, key, b"data")
    assert client.get(oss_server.bucket, key) == b"data"
    assert client.size(oss_server.bucket, key) == 4
    assert list(client.list(oss_server.bucket, key.rpartition("/")[0])) == [(key, 4)]
    client.delete(oss_server.bucket, key)
    assert client.get(oss_server.bucket, key) is None
    assert client.size(oss_server.bucket, key) is None
    wrong = ross.OSS(oss_server.endpoint, oss_server.access_key, "not-it", region)
    with pytest.raises(StoreError) as info:
        wrong.put(oss_server.bucket, "x", b"data")
    assert info.value.status == 403 and "SignatureDoesNotMatch" in str(info.value)
    assert f"oss://{oss_server.bucket}/x at {oss_server.endpoint}" in str(info.value)


def test_the_oss_client_pages_through_a_long_listing(oss_server):
    client = ross.OSS(oss_server.endpoint, oss_server.access_key, oss_server.secret_key)
    base = f"page/{uuid.uuid4().hex[:6]}/"
    for i in range(3):
        client.put(oss_server.bucket, f"{base}{i}", b"x" * i)
    query_pages = []
    original = client.request

    def spy(method, bucket, key="", query=None, **kw):
        if query is not None:
            query = dict(query, **{"max-keys": "2"})  # two a page: the token is followed
            query_pages.append(query.get("continuation-token", ""))
        return original(method, bucket, key, query, **kw)

    client.request = spy
    listing = list(client.list(oss_server.bucket, base))
    assert listing == [(f"{base}0", 0), (f"{base}1", 1), (f"{base}2", 2)]
    assert len(query_pages) == 2 and query_pages[1]


def test_a_body_damaged_on_the_way_to_oss_is_refused(oss_server):
    client = ross.OSS(oss_server.endpoint, oss_server.access_key, oss_server.secret_key)
    oss_server.corrupt_next_puts(1)
    with pytest.raises(StoreError) as info:
        client.put(oss_server.bucket, "damaged", b"some data")
    assert "InvalidDigest" in str(info.value)
    assert client.get(oss_server.bucket, "damaged") is None


# -- GCS: tokens -----------------------------------------------------------------------------


class _Metadata(http.server.BaseHTTPRequestHandler):
    """A stand-in for the GCE/GKE metadata server's token endpoint (no such server runs
    here): it answers only requests with ``Metadata-Flavor: Google``, as the real one does."""

    asked = 0

    def do_GET(self) -> None:
        if (
            self.path != "/computeMetadata/v1/instance/service-accounts/default/token"
            or self.headers.get("Metadata-Flavor") != "Google"
        ):
            self.send_response(403)
            self.end_headers()
            return
        type(self).asked += 1
        body = json.dumps({"access_token": f"tok-{self.asked}", "expires_in": 3599}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_pod_gets_its_gcs_token_from_the_metadata_server(monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Metadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{server.server_address[1]}")
        store = rgcs.open_gcs("gs://b/p", "", {rgcs.TOKEN_ENV: "metadata"})  # a pod on GKE
        assert store.client.endpoint == rgcs.GOOGLE
        assert store.client.token() == "tok-1"
        assert store.client.token() == "tok-1"  # kept until a minute before it expires
        assert _Metadata.asked == 1
        assert rgcs.open_gcs("gs://b/p", "", {rgcs.TOKEN_ENV: "given"}).client.token() == "given"
        assert rgcs.open_gcs("gs://b/p", "", {rgcs.TOKEN_ENV: "anonymous"}).client.token() == ""
    finally:
        server.shutdown()
        server.server_close()
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:1")
    with pytest.raises(StoreError) as info:
        rgcs.open_gcs("gs://b/p", "", {rgcs.TOKEN_ENV: "metadata"}).client.token()
    assert "no GCS token: the metadata server at 127.0.0.1:1" in str(info.value)
    assert rgcs.TOKEN_ENV in str(info.value)
    with pytest.raises(ValueError) as info:
        rgcs.open_gcs("gs://b/p", "", {})
    assert f"cache location gs://b/p: no credentials: {rgcs.TOKEN_ENV} is not set" in str(
        info.value
    )


class _OAuth(http.server.BaseHTTPRequestHandler):
    """A stand-in for Google's OAuth2 token endpoint (no network here): it grants a token
    for a JWT bearer assertion only when the assertion's RS256 signature verifies with the
    service account's public key, as Google's does."""

    public_key = None
    granted: list = []

    def do_POST(self) -> None:
        from urllib.parse import parse_qs

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        head, claims, signature = form["assertion"][0].split(".")

        def unb64(text: str) -> bytes:
            import base64

            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

        try:
            self.public_key.verify(
                unb64(signature), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:  # any failure (a bad signature, a bad assertion) is a refusal
            self.send_response(400)
            self.end_headers()
            return
        scope = json.loads(unb64(claims))["scope"]
        type(self).granted.append(scope)
        token = f"minted-{len(type(self).granted)}"
        body = json.dumps({"access_token": token, "expires_in": 3600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_the_local_engine_workers_get_a_token_minted_from_the_gcs_credentials(
    tmp_path, monkeypatch
):
    """A service-account key (Application Default Credentials) is exchanged for a token
    that the workers read from a file the engine refreshes before the token expires (a run
    may outlast a token's hour); the pods' environment holds no credential."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from dflow.cache.settings import CacheSettings

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _OAuth.public_key = key.public_key()
    server = http.server.HTTPServer(("127.0.0.1", 0), _OAuth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account = {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "cache@p.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"http://127.0.0.1:{server.server_address[1]}/token",
    }
    (tmp_path / "sa.json").write_text(json.dumps(account))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "sa.json"))
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    _OAuth.granted = []
    from dflow_storage_gcs import plugin as gcs_plugin

    # refresh one second after minting, as if the token had five minutes left
    monkeypatch.setattr(gcs_plugin, "REFRESH_BEFORE", 3599.0)
    token_file = ""
    try:
        settings = CacheSettings(location="gs://b/p")
        env = settings.runner_env()
        assert list(env) == [rgcs.TOKEN_ENV] and env[rgcs.TOKEN_ENV].startswith("file:")
        token_file = env[rgcs.TOKEN_ENV][len("file:") :]
        assert settings.runner_env() == env  # one file per credentials, kept fresh
        assert os.stat(token_file).st_mode & 0o777 == 0o600
        assert _OAuth.granted[0] == "https://www.googleapis.com/auth/devstorage.read_write"
        store = rgcs.open_gcs("gs://b/p", "", env)  # what a worker opens
        store.client.token.every = 0.0
        first = store.client.token()
        assert first.startswith("minted-")
        deadline = time.monotonic() + 60
        while store.client.token() == first and time.monotonic() < deadline:
            time.sleep(0.2)
        # the engine's thread refreshed the file; the worker read it again
        assert int(store.client.token().split("-")[1]) > int(first.split("-")[1])
        assert settings.pod_env() == {rgcs.TOKEN_ENV: "metadata"}
    finally:
        if token_file:
            shutil.rmtree(os.path.dirname(token_file), ignore_errors=True)  # ends the thread
        server.shutdown()
        server.server_close()
    with pytest.raises(StoreError) as info:
        store.client.token()
    assert f"no GCS token: cannot read {token_file}" in str(info.value)


def test_the_gcs_client_checks_what_the_server_stored(gcs_server):
    client = rgcs.GCS(gcs_server.endpoint)
    key = f"c/{uuid.uuid4().hex[:6]}/with space+plus~é"
    client.put(gcs_server.bucket, key, b"data")
    assert client.get(gcs_server.bucket, key) == b"data"
    assert client.size(gcs_server.bucket, key) == 4
    assert list(client.list(gcs_server.bucket, key.rpartition("/")[0])) == [(key, 4)]
    client.delete(gcs_server.bucket, key)
    assert client.get(gcs_server.bucket, key) is None
    assert client.size(gcs_server.bucket, key) is None
    with pytest.raises(StoreError) as info:
        list(client.list("no-such-bucket", ""))
    assert f"bucket gs://no-such-bucket does not exist at {gcs_server.endpoint}" in str(info.value)


def test_an_upload_gcs_stored_differently_is_deleted_and_fails(gcs_server):
    """What GCS says it stored (its MD5) is compared with the body sent."""
    import hashlib

    client = rgcs.GCS(gcs_server.endpoint)
    key = f"c/{uuid.uuid4().hex[:6]}"
    sent = hashlib.md5(b"the body").digest()
    with pytest.raises(StoreError) as info:
        client._insert(gcs_server.bucket, key, b"another body", 12, sent)  # damaged on the way
    assert f"gs://{gcs_server.bucket}/{key}" in str(info.value) and "MD5" in str(info.value)
    assert client.get(gcs_server.bucket, key) is None


# -- the cache on the local engine -----------------------------------------------------------


def test_the_local_engine_fills_the_bucket_and_a_second_run_computes_nothing(local, remote):
    log = local / "log"
    first_id = run(fan_out([1, 2, 3], log))
    assert computed(log) == 4
    assert len(remote.keys("entries/")) == 4
    assert not remote.keys("objects/")  # tiny outputs are kept in the manifests
    assert remote.keys("history/")
    again = fan_out([1, 2, 3], log)
    run(again)
    assert computed(log) == 4  # the second run computed nothing
    assert again.query_step(name="total")[0].outputs.parameters["s"].value == 14
    report = again.query_step(name="total")[0].outputs.artifacts["report"].local_path
    assert Path(report, "report.txt").read_text() == "sum 14\n"
    assert f"reused from run {first_id}" in step_log(again, "total")
    # the engine restored every step before scheduling it: no worker ran one
    for step in again.query_step(type="Pod"):
        assert step.message.startswith(f"reused from run {first_id} (key "), step.message
    runs = local / "runs" / again.id
    assert not [p for p in runs.rglob("pid") if p.parent != runs], "a worker ran a cached step"
    assert explain_lines(again.id, "square") == [
        f"cache-fan/square: 3 slices reused from run {first_id}"
    ]
    if remote.secret:
        assert files_holding(local / "runs", remote.secret) == []  # never written


def test_dflow_cache_ls_show_prune_on_the_bucket(local, remote, capsys):
    log = local / "log"
    run(fan_out([1, 2], log))
    changed = fan_out([1, 3], log)
    run(changed)
    assert "cache-fan/square slice 1: ran because parameter `x` changed (2 -> 3)" in (
        explain_lines(changed.id, "square")
    )
    capsys.readouterr()
    assert dflow_main(["cache", "ls"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("cache-fan/square") == 3 and "5 entries" in listing
    assert f"in {remote.location}" in listing
    total = next(e for e in list_entries(remote.location) if e.step.endswith("total"))
    assert dflow_main(["cache", "show", total.key[:12]]) == 0
    assert '"step": "cache-fan/total"' in capsys.readouterr().out
    assert dflow_main(["cache", "prune", "--max-size", "0"]) == 0
    assert "removed 5 entries" in capsys.readouterr().out
    assert remote.keys("entries/") == []


def test_a_truncated_object_is_detected_and_rewritten(local, remote, monkeypatch):
    monkeypatch.setattr(rentries, "INLINE_MAX", 0)  # the report an object, not inline
    log = local / "log"
    run(fan_out([5], log))
    (victim,) = [k for k in remote.keys("objects/") if remote.get(k) == b"sum 25\n"]
    remote.put(victim, b"sum")
    again = fan_out([5], log)
    run(again)
    assert computed(log, "total") == 2  # the damaged entry was not used
    report = again.query_step(name="total")[0].outputs.artifacts["report"].local_path
    assert Path(report, "report.txt").read_text() == "sum 25\n"
    assert "has 3 bytes, 7 expected" in step_log(again, "total")
    assert remote.get(victim) == b"sum 25\n"  # rewritten
    run(fan_out([5], log))
    assert computed(log, "total") == 2  # the rewritten entry serves


def test_wrong_oss_credentials_are_a_clear_error_naming_the_location(
    local, oss_server, monkeypatch, capsys
):
    location = f"oss://{oss_server.bucket}/wrong-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("DFLOW_CACHE_DIR", location)
    _oss_env(monkeypatch, oss_server, secret="not-the-secret")
    rcache._STORES.clear()
    log = local / "log"
    wf = fan_out([2], log)
    run(wf)  # the steps run, uncached, and say why
    assert computed(log) == 2
    text = step_log(wf, "total")
    assert f"oss://{oss_server.bucket}/" in text and "SignatureDoesNotMatch" in text
    capsys.readouterr()
    assert dflow_main(["cache", "ls"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"dflow: error: the step cache: GET {location}/entries/ at ")
    assert "403 SignatureDoesNotMatch" in error


def test_a_runner_without_oss_credentials_runs_the_step_uncached(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ross.ACCESS_ENV, raising=False)
    monkeypatch.delenv(ross.SECRET_ENV, raising=False)
    rcache._STORES.clear()
    spec = rcache.CacheSpec(root="oss://b/p", endpoint="http://127.0.0.1:1")
    looked = rcache.lookup(spec, type, [], set(), [{}], {}, None, str(tmp_path))
    assert not looked.reused and not looked.key
    assert f"not cached: cache location oss://b/p: no credentials: {ross.ACCESS_ENV}" in (
        capsys.readouterr().err
    )


def test_the_v4_signer_reaches_the_cache_when_the_oss_storage_uses_v4(
    local, oss_server, monkeypatch
):
    location = f"oss://{oss_server.bucket}/v4-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("DFLOW_CACHE_DIR", location)
    _oss_env(monkeypatch, oss_server, region=oss_server.region)
    (Path(local) / "dflow.toml").write_text('[storages.oss]\nauth_version = "v4"\n')
    rcache._STORES.clear()
    from dflow.cache import cache_settings

    assert cache_settings().access().region == oss_server.region
    log = local / "log"
    run(fan_out([4], log))
    run(fan_out([4], log))
    assert computed(log) == 2  # the second run was served from the bucket


# -- what reaches a pod ----------------------------------------------------------------------


def test_pods_get_oss_credentials_as_secret_references_only(oss_server, monkeypatch):
    from dflow.cache.settings import CacheSettings

    _oss_env(monkeypatch, oss_server)
    named = CacheSettings(location="oss://b/p", secret="cache-cred").pod_env()
    assert {k: (v.name, v.key, v.value) for k, v in named.items()} == {
        ross.ACCESS_ENV: ("cache-cred", "accesskey", None),  # an existing Secret: no value
        ross.SECRET_ENV: ("cache-cred", "secretkey", None),
    }
    made = CacheSettings(location="oss://b/p").pod_env()
    assert made[ross.SECRET_ENV].value == oss_server.secret_key  # what the Secret dflow makes holds
    assert made[ross.ACCESS_ENV].name != made[ross.SECRET_ENV].name


def test_pods_use_the_metadata_server_for_gcs_or_no_token_for_an_emulator(monkeypatch):
    from dflow.cache.settings import CacheSettings

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    assert CacheSettings(location="gs://b/p").pod_env() == {rgcs.TOKEN_ENV: "anonymous"}
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    settings = CacheSettings(location="gs://b/p")
    # no credential in the manifest: the pod asks the metadata server for a token
    assert settings.pod_env() == {rgcs.TOKEN_ENV: "metadata"}
    assert settings.access().endpoint == rgcs.GOOGLE


# -- across engines: the Argo conformance harness (real pods run our runner) ---------------


@pytest.mark.parametrize(
    ("name", "engine", "scheme", "order", "image"),
    [
        pytest.param("cache", "argo", "oss", ("local", "argo"), None, id="oss-local-then-argo"),
        pytest.param("cache", "argo", "gs", ("local", "argo"), None, id="gs-local-then-argo"),
        # pods on the oldest Python they may have fill the bucket, the local engine reuses
        pytest.param(
            "cache", "argo", "oss", ("argo", "local"), "python:3.7", id="oss-py37-then-local"
        ),
        pytest.param(
            "cache", "argo", "gs", ("argo", "local"), "python:3.7", id="gs-py37-then-local"
        ),
    ],
)
def test_an_entry_stored_by_one_engine_serves_the_other(
    name, engine, scheme, order, image, request
):
    from test_cache_engines import _submit, _value

    run = request.getfixturevalue("engine_run")
    secret = ""
    if scheme == "oss":
        server = request.getfixturevalue("oss_server")
        _oss_env(run.monkeypatch, server)
        secret = server.secret_key
    else:
        server = request.getfixturevalue("gcs_server")
        run.monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.endpoint)
    location = f"{scheme}://{server.bucket}/x-{uuid.uuid4().hex[:8]}"
    run.monkeypatch.setenv("DFLOW_CACHE_DIR", location)
    rcache._STORES.clear()
    log = run.workdir / "log"
    log.mkdir()
    first, second = order
    first_id = _submit(run, fan_out([1, 2, 3], log, image=image), first)
    assert computed(log) == 4
    again = fan_out([1, 2, 3], log, image=image)
    _submit(run, again, second)
    assert computed(log) == 4  # the other engine restored every step from the bucket
    assert _value(again, "total", "s") == 14
    assert any(f"reused from run {first_id}" in line for line in explain_lines(again.id, "total"))
    manifest = again.to_dict()
    env = [
        e
        for t in manifest["spec"]["templates"]
        for e in (t.get("script") or {}).get("env") or []
        if e["name"].startswith("DFLOW_CACHE_")
    ]
    if scheme == "oss":  # the key pair as Secret references, never as values
        assert {e["name"] for e in env} == {ross.ACCESS_ENV, ross.SECRET_ENV}
        assert all(set(e) == {"name", "valueFrom"} for e in env)
        assert secret not in json.dumps(manifest)
    else:  # an emulator: no token at all
        assert {(e["name"], e.get("value")) for e in env} == {(rgcs.TOKEN_ENV, "anonymous")}

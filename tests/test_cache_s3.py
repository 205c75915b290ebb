"""The step cache in an S3 bucket (``[cache] location = "s3://bucket/prefix"``), against a real
SeaweedFS server that checks SigV4 signatures: the runner's stdlib client signs like AWS's
published test vectors, the local engine fills and reuses the bucket, damaged and concurrent
entries behave as on disk (docs/cache.md)."""

from __future__ import annotations

import multiprocessing
import os
import sys
import uuid
from pathlib import Path

import pytest
from dflow.cache import cache_settings, list_entries
from dflow.cache.cli import explain_lines
from dflow.cli import main as dflow_main
from dflow.runner import cache as rcache
from dflow.runner import cacheentries as rentries
from dflow.runner.caches3 import ACCESS_ENV, SECRET_ENV, S3Store
from dflow.runner.s3 import EMPTY_SHA256, S3, S3Error, sign
from dflow.settings import SettingsError

sys.path.insert(0, str(Path(__file__).parent))
from cache_fixtures import cache_in_s3, local_fixture  # noqa: F401 (the fixture)
from cache_ops import computed, fan_out, files_holding, run, step_log

# -- the signer against AWS's published Signature V4 examples ----------------------------

_SUITE = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service")
_SUITE_HEADERS = {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"}


@pytest.mark.parametrize(
    ("method", "path", "query", "signature"),
    [  # aws-sig-v4-test-suite: get-vanilla, get-vanilla-query-order-key-case, get-utf8,
        # post-vanilla
        ("GET", "/", {}, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        (
            "GET",
            "/",
            {"Param2": "value2", "Param1": "value1"},
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        (
            "GET",
            "/%E1%88%B4",
            {},
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
        ),
        ("POST", "/", {}, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ],
)
def test_the_signer_matches_the_aws_test_suite(method, path, query, signature):
    access, secret, region, service = _SUITE
    header = sign(
        method, path, query, _SUITE_HEADERS, EMPTY_SHA256, access, secret, region, service,
        "20150830T123600Z",
    )  # fmt: skip
    assert header == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}"
    )


def test_the_signer_matches_the_s3_get_object_example():
    # the Amazon S3 API reference's "GET Object" example (a Range header, the s3 service)
    headers = {
        "Host": "examplebucket.s3.amazonaws.com",
        "Range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
    }
    header = sign(
        "GET", "/test.txt", {}, headers, EMPTY_SHA256, "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3", "20130524T000000Z",
    )  # fmt: skip
    assert header.endswith(
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


# -- a real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory):
    from dflow.testing.seaweedfs import start_seaweedfs

    secret = f"cache-secret-{uuid.uuid4().hex}"  # distinctive: the test looks for it in files
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"), secret_key=secret)
    yield server
    server.stop()


@pytest.fixture
def bucket(seaweedfs):
    name = f"cache-{uuid.uuid4().hex[:8]}"
    S3(seaweedfs.url, seaweedfs.access_key, seaweedfs.secret_key).request("PUT", name)
    return name


@pytest.fixture
def s3_local(local, monkeypatch, seaweedfs, bucket):
    """``local``, with the cache in ``s3://<bucket>/team/cache`` reached with the configured
    storage's endpoint and credentials (s3_config)."""
    with cache_in_s3(monkeypatch, seaweedfs, f"s3://{bucket}/team/cache"):
        yield local


def _client(seaweedfs) -> S3:
    return S3(seaweedfs.url, seaweedfs.access_key, seaweedfs.secret_key)


def test_a_wrong_secret_is_refused_by_the_server(seaweedfs, bucket):
    client = S3(seaweedfs.url, seaweedfs.access_key, "not-the-secret")
    with pytest.raises(S3Error) as info:
        client.put(bucket, "x", b"data")
    assert info.value.status == 403 and "SignatureDoesNotMatch" in str(info.value)
    good = _client(seaweedfs)
    good.put(bucket, "dir/with space+plus~", b"data")
    assert good.get(bucket, "dir/with space+plus~") == b"data"
    assert list(good.list(bucket, "dir/")) == [("dir/with space+plus~", 4)]
    assert good.get(bucket, "absent") is None


def test_the_local_engine_fills_the_bucket_and_a_second_run_computes_nothing(
    s3_local, seaweedfs, bucket
):
    log = s3_local / "log"
    first_id = run(fan_out([1, 2, 3], log))
    assert computed(log) == 4
    keys = [k for k, _size in _client(seaweedfs).list(bucket, "team/cache/")]
    assert len([k for k in keys if k.startswith("team/cache/entries/")]) == 4
    assert not any(k.startswith("team/cache/objects/") for k in keys)  # tiny: in manifests
    assert any(k.startswith("team/cache/history/") for k in keys)
    assert not os.path.exists(s3_local / "cache")  # nothing went to a local directory
    again = fan_out([1, 2, 3], log)
    run(again)
    assert computed(log) == 4  # the second run computed nothing
    assert again.query_step(name="total")[0].outputs.parameters["s"].value == 14
    report = again.query_step(name="total")[0].outputs.artifacts["report"].local_path
    assert Path(report, "report.txt").read_text() == "sum 14\n"
    assert f"reused from run {first_id}" in step_log(again, "total")
    assert explain_lines(again.id, "square") == [
        f"cache-fan/square: 3 slices reused from run {first_id}"
    ]
    assert files_holding(s3_local / "runs", seaweedfs.secret_key) == []  # never written


def test_dflow_cache_ls_show_prune_and_explain_on_the_bucket(s3_local, seaweedfs, bucket, capsys):
    log = s3_local / "log"
    run(fan_out([1, 2], log))
    changed = fan_out([1, 3], log)
    run(changed)
    assert "cache-fan/square slice 1: ran because parameter `x` changed (2 -> 3)" in (
        explain_lines(changed.id, "square")
    )
    every = explain_lines(changed.id, None)  # every step's: one listing of history/
    assert "cache-fan/square slice 1: ran because parameter `x` changed (2 -> 3)" in every
    assert any(line.startswith("cache-fan/total: ran because") for line in every), every
    capsys.readouterr()
    assert dflow_main(["cache", "ls"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("cache-fan/square") == 3 and "5 entries" in listing
    assert f"in s3://{bucket}/team/cache" in listing
    entries = list_entries(f"s3://{bucket}/team/cache")
    total = next(e for e in entries if e.step.endswith("total"))
    assert dflow_main(["cache", "show", total.key[:12]]) == 0
    assert '"step": "cache-fan/total"' in capsys.readouterr().out
    assert dflow_main(["cache", "prune", "--max-size", "0"]) == 0
    assert "removed 5 entries" in capsys.readouterr().out
    keys = [k for k, _ in _client(seaweedfs).list(bucket, "team/cache/entries/")]
    assert keys == []


def _report_object(seaweedfs, bucket) -> str:
    """The key of the object holding total's report ("sum 25\\n")."""
    client = _client(seaweedfs)
    for key, _size in client.list(bucket, "team/cache/objects/"):
        if client.get(bucket, key) == b"sum 25\n":
            return key
    raise AssertionError("no object holds the report")


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_a_damaged_object_in_the_bucket_is_detected_and_rewritten(
    s3_local, seaweedfs, bucket, damage, monkeypatch
):
    monkeypatch.setattr(rentries, "INLINE_MAX", 0)  # the report an object, not inline
    log = s3_local / "log"
    run(fan_out([5], log))
    victim = _report_object(seaweedfs, bucket)
    _client(seaweedfs).put(bucket, victim, b"sum" if damage == "truncated" else b"sum 99\n")
    again = fan_out([5], log)
    run(again)
    assert computed(log, "total") == 2  # the damaged entry was not used
    report = again.query_step(name="total")[0].outputs.artifacts["report"].local_path
    assert Path(report, "report.txt").read_text() == "sum 25\n"
    why = "has 3 bytes, 7 expected" if damage == "truncated" else "does not match its digest"
    assert why in step_log(again, "total")
    assert _client(seaweedfs).get(bucket, victim) == b"sum 25\n"  # rewritten
    third = fan_out([5], log)
    run(third)
    assert computed(log, "total") == 2  # the rewritten entry serves


def test_a_cut_short_manifest_in_the_bucket_is_ignored_and_rewritten(s3_local, seaweedfs, bucket):
    log = s3_local / "log"
    run(fan_out([6], log))
    client = _client(seaweedfs)
    (manifest,) = [
        k
        for k, _ in client.list(bucket, "team/cache/entries/")
        if b"cache-fan/total" in (client.get(bucket, k) or b"")
    ]
    whole = client.get(bucket, manifest)
    client.put(bucket, manifest, whole[: len(whole) // 2])
    again = fan_out([6], log)
    run(again)
    assert computed(log, "total") == 2
    assert "ignored: manifest digest mismatch" in step_log(again, "total")
    assert client.get(bucket, manifest) != whole[: len(whole) // 2]  # a sound one again
    run(fan_out([6], log))
    assert computed(log, "total") == 2


def _publish(args: tuple) -> str:
    location, endpoint, outputs, barrier = args
    rcache._STORES.clear()  # a forked writer opens its own connection
    spec = rcache.CacheSpec(
        root=location, run=f"run-{os.getpid()}", step="wf/main.s", endpoint=endpoint
    )
    barrier.wait()
    manifest = rcache.publish(spec, "ab" * 32, {"format": 1}, outputs)
    return manifest["run"] if manifest else ""


def test_concurrent_writers_of_one_entry_leave_one_valid_entry(
    tmp_path, monkeypatch, seaweedfs, bucket
):
    monkeypatch.setenv(ACCESS_ENV, seaweedfs.access_key)
    monkeypatch.setenv(SECRET_ENV, seaweedfs.secret_key)
    outputs = tmp_path / "outputs"
    (outputs / "parameters").mkdir(parents=True)
    (outputs / "parameters" / "y").write_text("4")
    (outputs / "artifacts" / "big").mkdir(parents=True)
    (outputs / "artifacts" / "big" / "data").write_bytes(os.urandom(1 << 20))
    location = f"s3://{bucket}/c"
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(4)
        with ctx.Pool(4) as pool:
            runs = pool.map(_publish, [(location, seaweedfs.url, str(outputs), barrier)] * 4)
    assert all(runs)  # every writer ended with a published entry
    manifests = [k for k, _ in _client(seaweedfs).list(bucket, "c/entries/")]
    assert manifests == [f"c/entries/ab/{'ab' * 32}.json"]
    manifest, why = S3Store(location, seaweedfs.url).read_manifest("ab" * 32)
    assert why == "" and manifest["run"] in runs
    assert manifest["files"]["artifacts/big/data"]["size"] == 1 << 20


def _other_histories(store: S3Store, steps: int) -> None:
    """Records of ``steps`` other steps in two workflows, three runs each, and of a step
    named ``square`` in another workflow: what explain must not read."""
    for wf in ("other-a", "other-b"):
        names = [f"step-{i}" for i in range(steps)] + (["square"] if wf == "other-a" else [])
        for name in names:
            for r in range(3):
                entry = {"step": f"{wf}/{name}", "run": f"{wf}-{r}", "key": "k" * 64}
                entry.update(record={"slice": None}, created=r, outcome="computed")
                store.append_history(f"{wf}/{name}", entry)


def test_explain_on_a_bucket_lists_one_step_and_reads_only_its_records(
    s3_local, seaweedfs, bucket, monkeypatch
):
    log = s3_local / "log"
    run(fan_out([1, 2], log))
    changed = fan_out([1, 3], log)
    run(changed)
    location = f"s3://{bucket}/team/cache"
    store = S3Store(location, seaweedfs.url, "", seaweedfs.access_key, seaweedfs.secret_key)
    _other_histories(store, steps=20)
    sent: list = []
    original = S3.request

    def counted(self, method, bucket, key="", query=None, *args, **kwargs):
        sent.append((method, key, dict(query or {})))
        return original(self, method, bucket, key, query, *args, **kwargs)

    monkeypatch.setattr(S3, "request", counted)
    lines = explain_lines(changed.id, "square")
    assert "cache-fan/square slice 1: ran because parameter `x` changed (2 -> 3)" in lines
    listed = [q["prefix"] for m, k, q in sent if m == "GET" and not k]
    assert listed == ["team/cache/history/square/"]  # one listing, of the asked step only
    read = [k for m, k, q in sent if m == "GET" and k]
    assert len(read) == 4  # square's 2 slices in 2 runs; not the 123 other records
    assert all(k.startswith("team/cache/history/square/cache-fan/") for k in read)


def test_history_of_steps_with_unusual_names_is_filed_and_found(seaweedfs, bucket):
    location = f"s3://{bucket}/c"
    store = S3Store(location, seaweedfs.url, "", seaweedfs.access_key, seaweedfs.secret_key)
    entry = {"step": "wf one/sq ü", "run": "run/1", "key": "k", "record": {}, "created": 1}
    store.append_history("wf one/sq ü", entry)
    store.append_history("wf one/sq ü", {**entry, "run": "run/2"})
    assert store.step_histories("sq ü", "run/1") == [[entry, {**entry, "run": "run/2"}]]
    assert store.step_histories("sq ü", "run/3") == []
    assert store.step_histories("sq", None) == []


def test_a_runner_without_credentials_runs_the_step_uncached(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ACCESS_ENV, raising=False)
    monkeypatch.delenv(SECRET_ENV, raising=False)
    rcache._STORES.clear()
    spec = rcache.CacheSpec(root="s3://b/p", endpoint="http://127.0.0.1:1")
    looked = rcache.lookup(spec, type, [], set(), [{}], {}, None, str(tmp_path))
    assert not looked.reused and not looked.key
    assert f"not cached: cache location s3://b/p: no credentials: {ACCESS_ENV}" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("location", ["az://bucket/cache", "gs:///x", "s3:///x"])
def test_an_unsupported_location_is_a_clear_error(monkeypatch, location):
    monkeypatch.setenv("DFLOW_CACHE_DIR", location)
    with pytest.raises(SettingsError) as info:
        cache_settings()
    text = str(info.value)
    assert text.startswith(f"DFLOW_CACHE_DIR: {location!r}")
    if location.startswith("az"):
        assert "a directory or in a bucket (s3://, oss:// or gs://bucket/prefix)" in text
    else:
        assert f"names no bucket: {location[:2]}://bucket/prefix" in text


def test_pods_get_the_credentials_as_secret_references_only(monkeypatch):
    from dflow.cache.settings import CacheSettings
    from dflow.config import s3_config

    monkeypatch.setitem(s3_config, "access_key", "AKIA-CACHE")
    monkeypatch.setitem(s3_config, "secret_key", "s3cr3t-value")
    named = CacheSettings(location="s3://b/p", secret="cache-cred").pod_env()
    assert {k: (v.name, v.key, v.value) for k, v in named.items()} == {
        ACCESS_ENV: ("cache-cred", "accesskey", None),  # an existing Secret: no value sent
        SECRET_ENV: ("cache-cred", "secretkey", None),
    }
    made = CacheSettings(location="s3://b/p", endpoint="http://s3:9000").pod_env()
    assert made[ACCESS_ENV].value == "AKIA-CACHE" and made[SECRET_ENV].value == "s3cr3t-value"
    assert made[ACCESS_ENV].name != made[SECRET_ENV].name  # one key per Secret
    assert CacheSettings(location="/shared/cache").pod_env() == {}

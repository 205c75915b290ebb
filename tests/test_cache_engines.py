"""The step cache on Argo (through the conformance harness: real pods run our runner) and
across engines: an entry written by one engine serves the other.

Both engines use one cache directory, mounted into the pods at its own path (hostPath), as a
shared volume would be on a cluster (docs/cache.md). Side effects are counted as files in a
directory the pods also see.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from dflow import download_artifact
from dflow.cache.cli import explain_lines
from dflow.config_keys import IgnoredConfigWarning

sys.path.insert(0, str(Path(__file__).parent))
from cache_ops import computed, fan_out, script_runs, script_words
from test_conformance import run as engine_run  # noqa: F401 (the engines' fixture)

pytestmark = pytest.mark.filterwarnings(
    f"ignore::{IgnoredConfigWarning.__module__}.IgnoredConfigWarning"
)


def _use(run, engine: str) -> None:
    """Submit to ``engine`` from now on (and upload artifacts to its storage)."""
    from dflow import config

    run.monkeypatch.setitem(config, "mode", "debug" if engine == "local" else "default")


def _submit(run, wf, engine: str) -> str:
    _use(run, engine)
    if engine == "argo":
        for step in wf.entrypoint.iter_steps():
            run.share_workdir(step.template)  # the log and the cache dir live in the workdir
    phase = run.submit(wf)
    assert phase == "Succeeded", run.explain()
    return wf.id


def _value(wf, step: str, name: str):
    return wf.query_step(name=step)[0].outputs.parameters[name].value


@pytest.mark.parametrize(
    ("name", "engine", "order", "image"),
    [
        pytest.param("cache", "argo", ("argo", "argo"), None, id="argo-then-argo"),
        pytest.param("cache", "argo", ("local", "argo"), None, id="local-then-argo"),
        pytest.param("cache", "argo", ("argo", "local"), None, id="argo-then-local"),
        # the runner's cache code on the oldest Python a pod may have
        pytest.param("cache", "argo", ("argo", "local"), "python:3.7", id="py37-then-local"),
    ],
)
def test_an_entry_written_on_one_engine_serves_the_next_run(name, engine, order, image, request):
    run = request.getfixturevalue("engine_run")  # reads `name` and `engine` from the params
    run.monkeypatch.setenv("DFLOW_CACHE_DIR", str(run.workdir / "cache"))
    log = run.workdir / "log"
    log.mkdir()
    first, second = order
    first_id = _submit(run, fan_out([1, 2, 3], log, image=image), first)
    assert computed(log) == 4
    again = fan_out([1, 2, 3], log, image=image)
    _submit(run, again, second)
    assert computed(log) == 4  # the second run computed nothing
    assert _value(again, "total", "s") == 14
    assert any(f"reused from run {first_id}" in line for line in explain_lines(again.id, "total"))
    changed = fan_out([1, 2, 4], log, image=image)
    _submit(run, changed, second)
    assert computed(log) == 6  # square(4) and total
    assert computed(log, "square-4") == 1
    assert _value(changed, "total", "s") == 21


@pytest.mark.parametrize(
    ("name", "engine", "order"),
    [
        pytest.param("cache", "argo", ("local", "argo"), id="local-then-argo"),
        pytest.param("cache", "argo", ("argo", "local"), id="argo-then-local"),
    ],
)
def test_explain_compares_with_the_previous_run_on_the_other_engine(name, engine, order, request):
    """Both engines file a step's history under one identity (workflow and step name), so a
    run is explained against the nearest earlier run whichever engine ran it."""
    run = request.getfixturevalue("engine_run")
    run.monkeypatch.setenv("DFLOW_CACHE_DIR", str(run.workdir / "cache"))
    log = run.workdir / "log"
    log.mkdir()
    first, second = order
    first_id = _submit(run, fan_out([1, 2, 3], log), first)
    changed = fan_out([1, 2, 4], log)
    _submit(run, changed, second)
    assert computed(log) == 6
    assert explain_lines(changed.id, "square") == [
        "cache-fan/square slice 2: ran because parameter `x` changed (3 -> 4)",
        f"cache-fan/square: 2 slices reused from run {first_id}",
    ]
    assert explain_lines(changed.id, "total") == [
        "cache-fan/total: ran because parameter `ys` changed ([1,4,9] -> [1,4,16])"
    ]


@pytest.mark.parametrize(
    ("name", "engine", "first_engine"),
    [
        pytest.param("cache", "argo", "argo", id="argo-then-argo"),
        pytest.param("cache", "argo", "local", id="local-then-argo"),
    ],
)
def test_a_cached_script_step_in_pods(name, engine, first_engine, request):
    """A script step through the runner's cache in its pod: the second run computes nothing
    (also when the local engine filled the cache), a changed parameter runs it again (and
    says why), ``cache=False`` opts out."""
    run = request.getfixturevalue("engine_run")
    run.monkeypatch.setenv("DFLOW_CACHE_DIR", str(run.workdir / "cache"))
    log, text = run.workdir / "log", run.workdir / "words.txt"
    log.mkdir()
    text.write_text("one two three")
    _use(run, first_engine)  # the upload goes where that engine reads it
    first = script_words(3, text, log, image=None)
    first_id = _submit(run, first, first_engine)
    _use(run, "argo")
    assert script_runs(log) == 1
    assert _value(first, "words", "y") == "9"
    again = script_words(3, text, log, image=None)
    _submit(run, again, "argo")
    assert script_runs(log) == 1  # restored in the pod: the script did not run
    assert _value(again, "words", "y") == "9"
    art = again.query_step(name="words")[0].outputs.artifacts["out"]
    (path,) = download_artifact(art, path=str(run.workdir / "dl"))
    assert Path(path, "copy.txt").read_text() == "one two three"
    (line,) = explain_lines(again.id, "words")
    assert line.startswith(f"cache-sh/words: reused from run {first_id} (key ")
    changed = script_words(4, text, log, image=None)
    _submit(run, changed, "argo")
    assert script_runs(log) == 2
    assert _value(changed, "words", "y") == "12"
    assert explain_lines(changed.id, "words") == [
        "cache-sh/words: ran because parameter `n` changed (3 -> 4)"
    ]
    for _ in range(2):
        _submit(run, script_words(4, text, log, cache=False, image=None), "argo")
    assert script_runs(log) == 4


def _cache_env(wf) -> list:
    """The cache's environment entries of the rendered templates (what the manifest holds)."""
    return [
        e
        for t in wf.to_dict()["spec"]["templates"]
        for e in (t.get("script") or {}).get("env") or []
        if e["name"].startswith("DFLOW_CACHE_S3_")
    ]


@pytest.mark.parametrize(
    ("name", "engine", "order"),
    [
        pytest.param("cache", "argo", ("local", "argo"), id="s3-local-then-argo"),
        pytest.param("cache", "argo", ("argo", "local"), id="s3-argo-then-local"),
    ],
)
def test_a_cache_in_the_object_store_serves_the_other_engine(name, engine, order, request):
    import uuid

    run = request.getfixturevalue("engine_run")
    bucket = request.getfixturevalue("argo_repository").bucket
    run.monkeypatch.setenv("DFLOW_CACHE_DIR", f"s3://{bucket}/cache-{uuid.uuid4().hex[:8]}")
    log = run.workdir / "log"
    log.mkdir()
    first, second = order
    _submit(run, fan_out([1, 2, 3], log), first)
    assert computed(log) == 4
    assert not (run.workdir / "cache").exists()  # no shared directory is involved
    again = fan_out([1, 2, 3], log)
    _submit(run, again, second)
    assert computed(log) == 4  # the second run, on the other engine, computed nothing
    assert _value(again, "total", "s") == 14
    refs = _cache_env(again)
    assert refs and all(set(e) == {"name", "valueFrom"} for e in refs)  # secret refs only
    assert {e["valueFrom"]["secretKeyRef"]["key"] for e in refs} == {"accesskey", "secretkey"}

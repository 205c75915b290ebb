"""The step cache on the local engine: reuse, re-run of exactly what changed, explanations,
damaged and concurrent entries, opt-out, and ``dflow cache`` (docs/cache.md)."""

from __future__ import annotations

import html
import json
import multiprocessing
import os
import re
import sys
from pathlib import Path

import pytest
from dflow.cache import explain_step, list_entries
from dflow.cache.cli import explain_lines
from dflow.cli import main as dflow_main
from dflow.runner import cache as rcache
from dflow.runner import cacheentries as rentries

sys.path.insert(0, str(Path(__file__).parent))
from cache_fixtures import local_fixture  # noqa: F401 (the fixture)
from cache_ops import computed, fan_out, retried, run, words


def value(wf, step: str, name: str):
    return wf.query_step(name=step)[0].outputs.parameters[name].value


def test_second_run_computes_nothing_and_says_where_results_came_from(local):
    log = local / "log"
    first = fan_out([1, 2, 3], log)
    first_id = run(first)
    assert computed(log) == 4
    again = fan_out([1, 2, 3], log)
    run(again)
    assert computed(log) == 4  # nothing computed the second time
    assert value(again, "total", "s") == 14
    report = again.query_step(name="total")[0].outputs.artifacts["report"].local_path
    assert Path(report, "report.txt").read_text() == "sum 14\n"
    assert explain_lines(again.id, "total") == [
        f"cache-fan/total: reused from run {first_id} "
        f"(key {explain_step(again.id, 'total')[0].key[:12]})"
    ]
    assert explain_lines(again.id, "square") == [
        f"cache-fan/square: 3 slices reused from run {first_id}"
    ]


def test_one_changed_item_reruns_its_slice_and_the_dependents_only(local):
    log = local / "log"
    run(fan_out([1, 2, 3], log))
    changed = fan_out([1, 2, 4], log)
    run(changed)
    assert computed(log, "square-4") == 1
    assert computed(log) == 4 + 2  # square(4) and total, nothing else
    assert value(changed, "total", "s") == 21
    lines = explain_lines(changed.id, "square")
    assert "cache-fan/square slice 2: ran because parameter `x` changed (3 -> 4)" in lines
    assert explain_lines(changed.id, "total") == [
        "cache-fan/total: ran because parameter `ys` changed ([1,4,9] -> [1,4,16])"
    ]


def test_explain_without_a_step_and_the_report_say_it_for_every_cached_step(
    local, tmp_path, capsys
):
    log = local / "log"
    first_id = run(fan_out([1, 2, 3], log))
    changed = fan_out([1, 2, 4], log)
    run(changed)
    expected = [
        "cache-fan/square slice 2: ran because parameter `x` changed (3 -> 4)",
        "cache-fan/total: ran because parameter `ys` changed ([1,4,9] -> [1,4,16])",
        f"cache-fan/square: 2 slices reused from run {first_id}",
    ]
    assert explain_lines(changed.id, None) == expected
    capsys.readouterr()
    assert dflow_main(["explain", changed.id]) == 0
    assert capsys.readouterr().out.splitlines() == expected
    page = Path(changed.report(str(tmp_path / "report.html"))).read_text()
    section = page[page.index("<h2>Step cache</h2>") :]
    assert [html.unescape(li) for li in re.findall(r"<li>(.*?)</li>", section)] == expected
    assert dflow_main(["explain", "nope-12345"]) == 1
    assert "no cache record of any step in run 'nope-12345'" in capsys.readouterr().err


def test_a_changed_input_artifact_is_named_with_its_digests(local):
    log = local / "log"
    text = local / "words.txt"
    text.write_text("one two three")
    run(words(text, log))
    text.write_text("one two three four")
    changed = words(text, log)
    run(changed)
    assert computed(log, "count") == 2
    assert value(changed, "count", "n") == 4
    (line,) = explain_lines(changed.id, "count")
    assert line.startswith("cache-words/count: ran because input artifact `text` changed (digest ")


def test_per_step_opt_out_and_configuration_switch(local, monkeypatch):
    log = local / "log"
    run(fan_out([1, 2], log, cache_total=False))
    run(fan_out([1, 2], log, cache_total=False))
    assert computed(log, "total") == 2  # cache=False: computed every time
    assert computed(log, "square") == 2
    monkeypatch.setenv("DFLOW_CACHE", "0")  # the step's cache=True still wins
    run(fan_out([1, 2], log, cache_total=None))
    assert computed(log, "total") == 3
    run(fan_out([1, 2], log, cache_total=None))
    assert computed(log, "total") == 4  # None: as configured, and the configuration says no
    assert computed(log, "square") == 2


def _only_entry(root: Path, step: str):
    (entry,) = [e for e in list_entries(str(root)) if e.step.endswith(step)]
    return entry


def _object(root: Path, key: str, rel: str) -> Path:
    manifest, why = rentries.read_manifest(str(root), key)
    return Path(rentries.object_path(str(root), manifest["files"][rel]["sha256"]))


def _entry(root: Path, key: str):
    (entry,) = [e for e in list_entries(str(root)) if e.key == key]
    return entry


@pytest.fixture
def objects_only(monkeypatch):
    """Every output file an object (small ones are kept in the manifest otherwise): for the
    tests that damage an object. The engine's workers fork after this, so they see it."""
    monkeypatch.setattr(rentries, "INLINE_MAX", 0)


def test_a_truncated_entry_is_detected_ignored_and_rewritten(local, objects_only, capsys):
    log = local / "log"
    run(fan_out([5], log))
    entry = _only_entry(local / "cache", "total")
    victim = _object(local / "cache", entry.key, "artifacts/report/report.txt")
    victim.write_text("su")  # truncated
    assert "report.txt has 2 bytes, 7 expected" in _entry(local / "cache", entry.key).problem
    again = fan_out([5], log)
    run(again)
    assert computed(log, "total") == 2  # recomputed, not restored from the damaged entry
    report = again.query_step(name="total")[0].outputs.artifacts["report"].local_path
    assert Path(report, "report.txt").read_text() == "sum 25\n"
    assert _entry(local / "cache", entry.key).problem == ""  # rewritten whole
    (line,) = explain_lines(again.id, "total")
    assert "was unusable (object " in line


def test_a_manifest_cut_short_is_ignored_and_rewritten(local):
    """Manifests are written in place, unsynced: one a crash cut short is never used."""
    log = local / "log"
    run(fan_out([5], log))
    entry = _only_entry(local / "cache", "total")
    manifest = Path(rentries.manifest_path(str(local / "cache"), entry.key))
    body = manifest.read_bytes()
    assert b"sum 25" not in body and b"c3VtIDI1Cg==" in body  # the report, inline (base64)
    assert not (local / "cache" / "objects").exists()  # small outputs: no object at all
    manifest.write_bytes(body[: len(body) // 2])
    again = fan_out([5], log)
    run(again)
    assert computed(log, "total") == 2  # recomputed, not restored from half a manifest
    report = again.query_step(name="total")[0].outputs.artifacts["report"].local_path
    assert Path(report, "report.txt").read_text() == "sum 25\n"
    assert _entry(local / "cache", entry.key).problem == ""  # rewritten whole
    (line,) = explain_lines(again.id, "total")
    assert "was unusable (manifest digest mismatch)" in line


def test_same_size_corruption_is_caught_by_the_digest_on_restore(local, objects_only):
    log = local / "log"
    run(fan_out([5], log))
    entry = _only_entry(local / "cache", "total")
    victim = _object(local / "cache", entry.key, "artifacts/report/report.txt")
    victim.unlink()  # the step's output shares the object's inode: write a new file
    victim.write_text("sum 99\n")
    again = fan_out([5], log)
    run(again)
    assert computed(log, "total") == 2
    report = again.query_step(name="total")[0].outputs.artifacts["report"].local_path
    assert Path(report, "report.txt").read_text() == "sum 25\n"


def _publish(args: tuple) -> str:
    root, outputs, barrier = args
    spec = rcache.CacheSpec(root=root, run=f"run-{os.getpid()}", step="wf/main.s")
    barrier.wait()
    manifest = rcache.publish(spec, "ab" * 32, {"format": 1}, outputs)
    return manifest["run"] if manifest else ""


def test_concurrent_writers_of_one_entry_leave_one_valid_entry(tmp_path):
    outputs = tmp_path / "outputs"
    (outputs / "parameters").mkdir(parents=True)
    (outputs / "parameters" / "y").write_text("4")
    (outputs / "artifacts" / "big").mkdir(parents=True)
    (outputs / "artifacts" / "big" / "data").write_bytes(os.urandom(1 << 20))
    root = str(tmp_path / "cache")
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(6)
        with ctx.Pool(6) as pool:
            winners = pool.map(_publish, [(root, str(outputs), barrier)] * 6)
    assert len(set(winners)) == 1 and winners[0]  # every writer sees the one published entry
    (entry,) = list_entries(root)
    assert entry.problem == "" and entry.run == winners[0]
    assert sorted(os.listdir(root)) == ["entries", "objects"]  # no leftovers
    manifest, why = rentries.read_manifest(root, "ab" * 32)
    assert why == "" and manifest["files"]["artifacts/big/data"]["size"] == 1 << 20


def test_restore_fills_a_missing_an_empty_or_a_used_outputs_dir(tmp_path):
    outputs = tmp_path / "outputs"
    (outputs / "parameters").mkdir(parents=True)
    (outputs / "parameters" / "y").write_text("4")
    (outputs / "artifacts" / "big" / "empty").mkdir(parents=True)
    (outputs / "artifacts" / "big" / "data").write_bytes(b"x" * 5000)  # an object
    (outputs / "artifacts" / "big" / "to-data").symlink_to("data")
    root = str(tmp_path / "cache")
    files = rentries.scan_and_store(root, str(outputs))
    manifest = {"files": files}
    expected = sorted(str(p.relative_to(outputs)) for p in outputs.rglob("*"))
    used = tmp_path / "used"
    (used / "parameters").mkdir(parents=True)
    (used / "parameters" / "y").write_text("old")
    (used / "parameters" / "z").write_text("replaced with its directory")
    (used / "other").write_text("kept")
    (tmp_path / "empty").mkdir()
    for where in (tmp_path / "a" / "b" / "outputs", tmp_path / "empty", used):
        assert rentries.restore(root, manifest, str(where)) == ""
        got = sorted(str(p.relative_to(where)) for p in where.rglob("*"))
        extra = ["other"] if where == used else []
        assert got == sorted(expected + extra), where
        assert (where / "parameters" / "y").read_text() == "4"
        assert (where / "artifacts" / "big" / "to-data").read_bytes() == b"x" * 5000
    assert (used / "other").read_text() == "kept"
    # an altered object: the outputs are left as they were, nothing is left beside them
    obj = Path(rentries.object_path(root, files["artifacts/big/data"]["sha256"]))
    obj.unlink()
    obj.write_bytes(b"y" * 5000)
    (tmp_path / "fresh").mkdir()
    why = rentries.restore(root, manifest, str(tmp_path / "fresh" / "outputs"))
    assert why == "object artifacts/big/data does not match its digest"
    assert os.listdir(tmp_path / "fresh") == []


def test_dflow_cache_ls_show_prune(local, capsys):
    log = local / "log"
    run(fan_out([1, 2, 3], log))
    capsys.readouterr()
    assert dflow_main(["cache", "ls"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("cache-fan/square") == 3
    assert "4 entries" in listing
    key = _only_entry(local / "cache", "total").key
    assert dflow_main(["cache", "show", key[:10]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["record"]["parameters"]["ys"] == "[1,4,9]"
    assert dflow_main(["cache", "prune", "--max-size", "60"]) == 0
    assert "removed 3 entries" in capsys.readouterr().out
    assert dflow_main(["cache", "prune", "--older-than", "0s"]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert list_entries(str(local / "cache")) == []
    assert dflow_main(["explain", "nope-12345", "total"]) == 1
    assert "no cache record of step 'total'" in capsys.readouterr().err


def test_dflow_toml_cache_table_turns_the_cache_on_and_checks_its_keys(local, monkeypatch):
    monkeypatch.delenv("DFLOW_CACHE_DIR")
    (local / "dflow.toml").write_text('[cache]\nenabled = true\nlocation = "shared-cache"\n')
    log = local / "log"
    run(fan_out([1], log, cache_total=None))
    run(fan_out([1], log, cache_total=None))
    assert computed(log, "total") == 1  # cache=None: the file's enabled = true
    assert len(list_entries(str(local / "shared-cache"))) == 2
    (local / "dflow.toml").write_text("[cache]\nenable = true\n")
    assert "cache.enable: extra key (did you mean 'enabled'?)" in _step_error(fan_out([1], log))
    (local / "dflow.toml").write_text('[cache]\nmax_size = "lots"\n')
    assert "'lots' is not a size; write a number of bytes" in _step_error(fan_out([1], log))


def _step_error(wf) -> str:
    wf.submit()
    wf.wait()
    assert wf.query_status() != "Succeeded"
    return "\n".join(str(s.get("message")) for s in wf.query_step())


def test_only_the_successful_attempt_is_stored(local):
    log = local / "log"
    first = retried(log)
    run(first)
    assert computed(log, "flaky") == 2  # one failed attempt, one success
    (entry,) = list_entries(str(local / "cache"))
    assert entry.run == first.id
    again = retried(log)
    run(again)
    assert computed(log, "flaky") == 2
    assert value(again, "flaky", "y") == 2

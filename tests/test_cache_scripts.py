"""The step cache for script steps and the local engine's check before scheduling
(docs/cache.md): a cached script runs once, a changed parameter or input artifact runs it
again, ``cache=False`` opts out; a cached step is restored without a worker or a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dflow import download_artifact
from dflow.cache.cli import explain_lines
from dflow.executor import Executor, JobResult

sys.path.insert(0, str(Path(__file__).parent))
from cache_fixtures import local_fixture  # noqa: F401 (the fixture)
from cache_ops import computed, fan_out, run, script_runs, script_words
from test_cache import value


@pytest.fixture
def cache_local(request):
    """test_cache's ``local``: the local engine, the cache and a log in ``tmp_path``."""
    return request.getfixturevalue("local")


def _copy(wf, tmp: Path) -> str:
    art = wf.query_step(name="words")[0].outputs.artifacts["out"]
    (path,) = download_artifact(art, path=str(tmp))
    return Path(path, "copy.txt").read_text()


def test_a_cached_script_runs_once_and_its_outputs_are_restored(cache_local):
    log, text = cache_local / "log", cache_local / "words.txt"
    text.write_text("one two three")
    first = script_words(3, text, log)
    first_id = run(first)
    assert script_runs(log) == 1
    assert value(first, "words", "y") == "9"
    again = script_words(3, text, log)
    run(again)
    assert script_runs(log) == 1  # nothing ran the second time
    assert value(again, "words", "y") == "9"
    assert _copy(again, cache_local / "dl") == "one two three"
    step = again.query_step(name="words")[0]
    assert step.phase == "Succeeded"
    assert step.message.startswith(f"reused from run {first_id} (key ")
    (line,) = explain_lines(again.id, "words")
    assert line.startswith(f"cache-sh/words: reused from run {first_id} (key ")


def test_a_changed_parameter_or_input_artifact_runs_the_script_again(cache_local):
    log, text = cache_local / "log", cache_local / "words.txt"
    text.write_text("one two three")
    run(script_words(3, text, log))
    changed = script_words(4, text, log)
    run(changed)
    assert script_runs(log) == 2
    assert value(changed, "words", "y") == "12"
    assert explain_lines(changed.id, "words") == [
        "cache-sh/words: ran because parameter `n` changed (3 -> 4)"
    ]
    text.write_text("one two three four")
    edited = script_words(4, text, log)
    run(edited)
    assert script_runs(log) == 3
    assert value(edited, "words", "y") == "16"
    assert _copy(edited, cache_local / "dl") == "one two three four"
    (line,) = explain_lines(edited.id, "words")
    assert line.startswith("cache-sh/words: ran because input artifact `text` changed (digest ")


def test_an_edited_script_runs_again_and_cache_false_opts_out(cache_local, monkeypatch):
    import cache_ops

    log, text = cache_local / "log", cache_local / "words.txt"
    text.write_text("a b")
    run(script_words(1, text, log))
    monkeypatch.setattr(cache_ops, "WORDS_SCRIPT", cache_ops.WORDS_SCRIPT + "true\n")
    edited = script_words(1, text, log)
    run(edited)
    assert script_runs(log) == 2
    assert explain_lines(edited.id, "words") == ["cache-sh/words: ran because the script changed"]
    monkeypatch.setenv("DFLOW_CACHE", "1")  # the configuration says yes, the template no
    run(script_words(1, text, log, cache=False))
    run(script_words(1, text, log, cache=False))
    assert script_runs(log) == 4


def test_a_cached_python_step_is_restored_before_it_is_scheduled(cache_local):
    """A hit never reaches a worker: the worker's runner would leave the step's ``pid`` file
    and return no message; the engine's check says where the outputs came from."""
    log = cache_local / "log"
    first_id = run(fan_out([1, 2], log))
    again = fan_out([1, 2], log)
    run(again)
    assert computed(log) == 3
    pods = again.query_step(type="Pod")
    assert len(pods) == 3  # two slices and the total
    for step in pods:
        assert step.phase == "Succeeded"
        assert step.message.startswith(f"reused from run {first_id} (key "), step.message
    runs = cache_local / "runs" / again.id
    assert not [p for p in runs.rglob("pid") if p.parent != runs], "a worker ran a cached step"
    logs = [p.read_text() for p in runs.rglob("log.txt")]
    assert sum(f"[dflow cache] reused from run {first_id}" in text for text in logs) == 3
    assert value(again, "total", "s") == 5


def test_records_of_the_older_path_identity_are_still_compared(cache_local):
    """Before one identity served both engines, the local engine filed a step's history
    under its path (``cache-fan/main.total``): such records are still the previous run."""
    from dflow.runner import cacheentries

    log, root = cache_local / "log", cache_local / "cache"
    run(fan_out([1, 2], log))
    history = root / "history"
    for path in history.iterdir():  # as the older engine wrote them
        records = [json.loads(line) for line in path.read_text().splitlines()]
        path.unlink()
        for r in records:
            r["step"] = r["step"].replace("cache-fan/", "cache-fan/main.")
            cacheentries.append_history(str(root), r["step"], r)
    assert all("main." in p.read_text() for p in history.iterdir())
    changed = fan_out([1, 3], log)
    run(changed)
    assert explain_lines(changed.id, "total") == [
        "cache-fan/total: ran because parameter `ys` changed ([1,4] -> [1,9])"
    ]


class _Here(Executor):
    """An executor whose jobs run here, in the step's workdir (as on a shared file system)."""

    def __init__(self) -> None:
        self.jobs: list = []

    def run(self, job):
        self.jobs.append(job)
        with open(job.log_path, "ab") as log:
            proc = subprocess.run(
                [*job.command, str(job.script_path)],
                cwd=job.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **job.env},
            )
        return JobResult(proc.returncode, job_id=str(len(self.jobs)))


def test_a_script_sent_to_an_executor_is_cached_by_the_local_engine(cache_local):
    """The engine checks before submitting the job and stores the outputs it brought back."""
    from dflow import OutputParameter, ShellOPTemplate, Step, Workflow

    def workflow(ex: Executor, word: str) -> Workflow:
        t = ShellOPTemplate(
            name="echo", script=f"echo {word} > /tmp/outputs/parameters/o", cache=True
        )
        t.outputs.parameters = {"o": OutputParameter(value_from_path="/tmp/outputs/parameters/o")}
        wf = Workflow("cache-exec")
        wf.add(Step("sh", t, executor=ex))
        return wf

    ex = _Here()
    run(workflow(ex, "hi"))
    again = workflow(ex, "hi")
    run(again)
    assert len(ex.jobs) == 1  # the second run submitted nothing
    assert value(again, "sh", "o") == "hi"
    run(workflow(ex, "ho"))  # another script text: another key
    assert len(ex.jobs) == 2

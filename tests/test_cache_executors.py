"""The step cache for Python OPs sent to an executor, and the local engine's own check on a
cache in a bucket (docs/cache.md, "Executor steps").

The job's runner runs without the cache; the engine checks before submitting (its inputs are
here) and stores what the job brought back. Jobs go to the real local Slurm
(``dflow.testing.slurm``) and to DPDispatcher (Shell batch, LocalContext); submissions are
counted by the scheduler (``scontrol show jobs`` keeps finished jobs for ``MinJobAge``) and by
the dispatcher's remote root, computations by the marks the OPs leave in ``log``.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from dflow import InputParameter, Step, Workflow
from dflow.python import PythonOPTemplate
from dflow.runner.caches3 import ACCESS_ENV

sys.path.insert(0, str(Path(__file__).parent))
from cache_fixtures import cache_in_s3
from cache_ops import computed, fan_out, run, sent, square, total

pytest.importorskip("dflow_executor_slurm")
pytest.importorskip("dflow_executor_dispatcher")

from dflow_executor_dispatcher import DispatcherExecutor
from dflow_executor_slurm import SlurmJobTemplate

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def cached(tmp_path, monkeypatch):
    """The local engine in ``tmp_path/runs``, the cache in ``tmp_path/cache``, a log of
    computations in ``tmp_path/log``; HOME empty (batch scripts may run login shells)."""
    from dflow.config import config

    saved = dict(config)
    config.update(mode="local", debug_workdir=str(tmp_path / "runs"), debug_pool_workers=1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DFLOW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DFLOW_CACHE", raising=False)
    (tmp_path / "home").mkdir()
    (tmp_path / "log").mkdir()
    yield tmp_path
    config.clear()
    config.update(saved)


def one_total(name: str, ys: list, log: Path, executor=None, context=None) -> Workflow:
    """One cached ``total`` step, run by ``executor`` (or the workflow's ``context``)."""
    wf = Workflow(name=name, context=context)
    tmpl = PythonOPTemplate(total)
    params = {"ys": ys, "log": str(log)}
    wf.add(Step("total", tmpl, parameters=params, executor=executor, cache=True))
    return wf


def pods(wf: Workflow) -> list:
    return wf.query_step(type="Pod")


def assert_all_reused(wf: Workflow, source: str, root: Path) -> None:
    """Every leaf restored before it was scheduled: the engine's message, and no worker or
    job touched it (no ``pid`` file, no job script)."""
    steps = pods(wf)
    assert steps
    for step in steps:
        assert step.phase == "Succeeded"
        assert step.message.startswith(f"reused from run {source} (key "), step.message
    runs = root / "runs" / wf.id
    assert not [p for p in runs.rglob("pid") if p.parent != runs], "a worker ran a cached step"
    assert not list(runs.glob("*/script")), "a job script was written for a cached step"


def total_of(wf: Workflow) -> int:
    return wf.query_step(name="total")[0].outputs.parameters["s"].value


def report_of(wf: Workflow) -> str:
    art = wf.query_step(name="total")[0].outputs.artifacts["report"].local_path
    return Path(art, "report.txt").read_text()


# -- Slurm and DPDispatcher -------------------------------------------------------------------


def slurm_jobs(local_slurm, under: Path) -> int:
    """Jobs the scheduler ran from a working directory under ``under`` (finished jobs stay
    listed for MinJobAge, 600 s)."""
    out = local_slurm.run("scontrol", "-o", "show", "jobs").stdout
    return sum(f"WorkDir={under}" in line for line in out.splitlines())


def shell(root: Path) -> DispatcherExecutor:
    """DPDispatcher's Shell batch on LocalContext; its submissions kept under ``root/dp``."""
    return DispatcherExecutor(
        machine_dict={"batch_type": "Shell", "context_type": "LocalContext"},
        remote_root=str(root / "dp"),
        clean=False,
    )


def submissions(root: Path) -> int:
    """The tasks DPDispatcher ran (their directories in its remote root)."""
    return len(list((root / "dp").glob("*/task*/"))) if (root / "dp").exists() else 0


@pytest.mark.parametrize("backend", ["slurm", "dpdispatcher"])
def test_python_ops_sent_to_an_executor_are_cached_by_the_local_engine(backend, cached, request):
    """Counted by the scheduler (Slurm's jobs) or by DPDispatcher's task directories."""
    if backend == "slurm":
        local_slurm = request.getfixturevalue("local_slurm")
        executor, jobs = SlurmJobTemplate, lambda: slurm_jobs(local_slurm, cached)
    else:
        executor, jobs = (lambda: shell(cached)), (lambda: submissions(cached))
    log = cached / "log"
    first = run(sent([1, 2, 3], log, executor()))
    assert computed(log) == 4
    assert jobs() == 4
    again = sent([1, 2, 3], log, executor())
    run(again)
    assert computed(log) == 4  # nothing computed
    assert jobs() == 4  # and nothing submitted
    assert_all_reused(again, first, cached)
    assert total_of(again) == 14 and report_of(again) == "sum 14\n"
    changed = sent([1, 2, 4], log, executor())
    run(changed)
    # exactly the changed slice and the step reading it: two jobs
    assert computed(log, "square-4") == 1 and computed(log, "total") == 2
    assert computed(log) == 6
    assert jobs() == 6
    assert total_of(changed) == 21
    fresh = {s.message for s in pods(changed) if not s.message.startswith("reused")}
    assert len(pods(changed)) - len(fresh) >= 2  # the two unchanged slices were reused


def test_an_entry_damaged_after_the_check_is_replaced_by_the_job(cached):
    """The engine's check before scheduling leaves a damaged entry to the attempt's own
    check, which says why, submits the job and rewrites the entry."""
    from dflow.cache import list_entries

    log = cached / "log"
    run(one_total("cache-exec-one", [3], log, shell(cached)))
    [entry] = list_entries(str(cached / "cache"))
    manifest = next((cached / "cache" / "entries").rglob(f"{entry.key}.json"))
    manifest.write_text(manifest.read_text()[:-20])  # cut short
    again = one_total("cache-exec-one", [3], log, shell(cached))
    run(again)
    assert computed(log, "total") == 2
    [step] = pods(again)
    text = (cached / "runs" / again.id / step.id / "log.txt").read_text()
    assert f"[dflow cache] entry {entry.key[:12]} ignored" in text
    [entry2] = list_entries(str(cached / "cache"))
    assert entry2.key == entry.key and entry2.problem == ""


def test_a_default_executor_is_in_the_key_as_a_steps_own(cached):
    """A workflow's default executor (``context=``) runs the step as the step's own would:
    one key, so either run serves the other; a local run of the same OP has another."""
    log = cached / "log"
    first_id = run(one_total("cache-exec-ctx", [2], log, context=shell(cached)))
    own = one_total("cache-exec-ctx", [2], log, shell(cached))
    run(own)
    assert computed(log, "total") == 1
    assert pods(own)[0].message.startswith(f"reused from run {first_id}")
    run(one_total("cache-exec-ctx", [2], log))
    assert computed(log, "total") == 2  # no executor: another key


# -- a cache in a bucket ---------------------------------------------------------------------


@pytest.fixture
def in_bucket(cached, monkeypatch, seaweedfs):
    """``cached``, with the cache in ``s3://<bucket>/cache`` (a fresh bucket on the session's
    SeaweedFS, tests/conftest.py) reached with the configured
    storage's endpoint and credentials (none in this process's environment)."""
    from dflow.runner.s3 import S3

    bucket = f"cache-{uuid.uuid4().hex[:8]}"
    S3(seaweedfs.url, seaweedfs.access_key, seaweedfs.secret_key).request("PUT", bucket)
    with cache_in_s3(monkeypatch, seaweedfs, f"s3://{bucket}/cache"):
        yield cached


def test_the_engine_restores_every_slice_from_a_bucket_without_a_worker(in_bucket):
    log = in_bucket / "log"
    first = run(fan_out([1, 2, 3], log))
    assert computed(log) == 4
    again = fan_out([1, 2, 3], log)
    run(again)
    assert computed(log) == 4
    assert len(pods(again)) == 4  # three slices and the total
    assert_all_reused(again, first, in_bucket)
    assert total_of(again) == 14 and report_of(again) == "sum 14\n"
    assert ACCESS_ENV not in os.environ  # the engine kept the credentials to itself


def test_python_ops_sent_to_an_executor_are_cached_in_a_bucket(in_bucket):
    log = in_bucket / "log"
    first = run(sent([1, 2], log, shell(in_bucket)))
    assert computed(log) == 3
    jobs = submissions(in_bucket)
    again = sent([1, 2], log, shell(in_bucket))
    run(again)
    assert computed(log) == 3 and submissions(in_bucket) == jobs
    assert_all_reused(again, first, in_bucket)
    assert total_of(again) == 5


# -- on Argo: the job's runner stores, the pod checks ---------------------------------------


def _cache_argument(manifest: dict) -> str:
    """The ``dflow_cache`` argument the workflow's step passes to its template."""
    for tmpl in manifest["spec"]["templates"]:
        for group in tmpl.get("steps") or []:
            for step in group:
                for arg in (step.get("arguments") or {}).get("parameters") or []:
                    if arg["name"] == "dflow_cache":
                        return arg["value"]
    raise AssertionError("no step passes dflow_cache")


def test_on_argo_the_job_of_a_python_op_checks_the_cache_itself(cached):
    """On Argo the job's runner (which every backend uses) gets the spec: the first run
    stores the entry; the second run's pod keys the step itself and submits no job
    (docs/cache.md, "Executor steps"; tests/test_cache_argo_executors.py)."""
    from test_executors_argo import SHELL_LOCAL, argo_reads, run_pod

    sys.path.insert(0, str(Path(__file__).parents[1] / "plugins/engine_argo/tests/render"))
    from dflow_engine_argo.render import ArgoRenderer
    from sandbox import place_packages

    log = cached / "log"
    ex = DispatcherExecutor(
        machine_dict={**SHELL_LOCAL, "remote_root": str(cached / "dp")}, clean=False
    )
    ex.argo_check_interval = 0.2
    wf = Workflow(name="cache-argo-exec")
    tmpl = PythonOPTemplate(square)
    wf.add(Step("sq", tmpl, parameters={"x": 3, "log": str(log)}, executor=ex, cache=True))
    renderer = ArgoRenderer(artifact_kind="s3")
    manifest = renderer.manifest(wf)
    pod = next(t for t in manifest["spec"]["templates"] if "script" in t)
    packages = pod["inputs"]["artifacts"][-1]["s3"]["key"]
    params = {"x": "3", "log": str(log), "dflow_cache": _cache_argument(manifest)}
    for attempt in (1, 2):
        root = cached / f"pod{attempt}" / "tmp"
        root.mkdir(parents=True)
        place_packages(root, renderer.packages_to_upload(wf)[packages])
        proc = run_pod(pod, root, params)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert argo_reads(root / "outputs" / "parameters" / "y") == "9"
        assert submissions(cached) == 1  # the second pod submitted nothing
    assert computed(log) == 1
    assert "[dflow cache] reused from run wf-test" in proc.stdout + proc.stderr
    assert list((cached / "cache" / "entries").rglob("*.json"))


def test_on_argo_a_default_executor_is_in_the_key_as_a_steps_own(cached):
    """The renderer keys a step the workflow's default executor runs as the local engine
    does, a Python OP's and a script's alike."""
    from dflow import ShellOPTemplate
    from dflow_engine_argo.render import ArgoRenderer

    def cache_argument(context, own, tmpl) -> str | None:
        wf = Workflow(name="cache-argo-ctx", context=context)
        wf.add(Step("s", tmpl, parameters={"ys": [2], "log": "l"}, executor=own, cache=True))
        try:
            return _cache_argument(ArgoRenderer(artifact_kind="s3").manifest(wf))
        except AssertionError:
            return None

    op = PythonOPTemplate(total)
    by_context = cache_argument(shell(cached), None, op)
    by_step = cache_argument(None, shell(cached), op)
    assert by_context == by_step
    assert '"executor": "DispatcherExecutor"' in by_context
    assert '"executor"' not in cache_argument(None, None, op)
    script = ShellOPTemplate(name="sh", script="echo hi")
    script.inputs.parameters = {"ys": InputParameter(), "log": InputParameter()}
    script_by_context = cache_argument(shell(cached), None, script)
    assert script_by_context == cache_argument(None, shell(cached), script)
    assert '"executor": "DispatcherExecutor"' in script_by_context
    assert '"executor"' not in cache_argument(None, None, script)

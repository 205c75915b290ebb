"""The step cache for executor steps on Argo (docs/cache.md, "Executor steps").

The pod of a Python OP sent through DPDispatcher keys the step before it submits the job,
without importing the OP (the renderer describes it in the step's cache spec:
``dflow.runner.cacheop``): on a hit it restores the outputs and submits nothing. Workflows run
through the Argo conformance harness (real pods, in an image with dpdispatcher and without
dflow: the pod runtime is shipped) and on the local engine, which share one cache directory
(mounted into the pods at its own path). Jobs go to DPDispatcher's Shell batch on
LocalContext; submissions are counted in its remote root, computations by the marks the OPs
leave in ``log``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from dflow import Step, Workflow
from dflow.config_keys import IgnoredConfigWarning
from dflow.python import OP, Artifact, PythonOPTemplate

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "plugins" / "engine_argo" / "tests"))
sys.path.insert(0, str(Path(__file__).parents[1] / "plugins" / "engine_argo" / "tests" / "render"))
from cache_ops import computed, script_runs, script_words, sent, square
from test_conformance import DISPATCHER_IMAGE
from test_conformance import run as engine_run  # noqa: F401 (the engines' fixture)

pytest.importorskip("dflow_executor_dispatcher")
from dflow_executor_dispatcher import DispatcherExecutor

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.filterwarnings(f"ignore::{IgnoredConfigWarning.__module__}.IgnoredConfigWarning"),
]


def shell(root: Path) -> DispatcherExecutor:
    """DPDispatcher's Shell batch on LocalContext, in the dispatcher image on Argo; its
    submissions kept under ``root/dp``."""
    ex = DispatcherExecutor(
        machine_dict={"batch_type": "Shell", "context_type": "LocalContext"},
        remote_root=str(root / "dp"),
        image=DISPATCHER_IMAGE,
        clean=False,
    )
    ex.argo_check_interval = 0.2  # the Shell "scheduler" is a local process
    return ex


def submissions(root: Path) -> int:
    """The tasks DPDispatcher ran (their directories in its remote root)."""
    return len(list((root / "dp").glob("*/task*/"))) if (root / "dp").exists() else 0


def _use(run, engine: str) -> None:
    from dflow import config

    run.monkeypatch.setitem(config, "mode", "debug" if engine == "local" else "default")


def _submit(run, wf: Workflow, engine: str) -> str:
    _use(run, engine)
    if engine == "argo":
        from conformance.images import python_image, register_image

        register_image(
            DISPATCHER_IMAGE,
            python_image(DISPATCHER_IMAGE, "3.11", requirements=("dpdispatcher==1.1.0",)),
        )
        for step in wf.entrypoint.iter_steps():
            run.share_workdir(step.template)  # the log, the cache and the remote root
    phase = run.submit(wf)
    assert phase == "Succeeded", run.explain()
    return wf.id


def _history(root: Path, step: str) -> list:
    """The cache's records of ``step`` (``workflow/step``), oldest first."""
    from dflow.runner.cacheentries import history_path

    text = Path(history_path(str(root / "cache"), step)).read_text()
    return [json.loads(line) for line in text.splitlines()]


def _total(wf: Workflow) -> int:
    return wf.query_step(name="total")[0].outputs.parameters["s"].value


@pytest.mark.parametrize(
    ("name", "engine", "order"),
    [
        pytest.param("cache", "argo", ("argo", "argo"), id="argo-then-argo"),
        pytest.param("cache", "argo", ("local", "argo"), id="local-then-argo"),
        pytest.param("cache", "argo", ("argo", "local"), id="argo-then-local"),
    ],
)
def test_a_dispatcher_pod_submits_no_job_for_a_cached_step(name, engine, order, request):
    """A second run submits no job, on Argo too (the pod's key is the job's and the local
    engine's: an entry any of them stored serves the others); one changed item re-runs its
    slice and the step reading it."""
    run = request.getfixturevalue("engine_run")
    root = run.workdir
    run.monkeypatch.setenv("DFLOW_CACHE_DIR", str(root / "cache"))
    log = root / "log"
    log.mkdir()
    first, second = order
    _submit(run, sent([1, 2, 3], log, shell(root), "cache-argo-exec"), first)
    assert computed(log) == 4
    assert submissions(root) == 4
    again = sent([1, 2, 3], log, shell(root), "cache-argo-exec")
    _submit(run, again, second)
    assert computed(log) == 4
    assert submissions(root) == 4  # the second run submitted nothing
    assert _total(again) == 14
    # one key: computed by the first run's job (or local worker), reused by the second's pod
    records = _history(root, "cache-argo-exec/total")
    assert [r["outcome"] for r in records] == ["computed", "reused"]
    assert records[0]["key"] == records[1]["key"]
    changed = sent([1, 2, 4], log, shell(root), "cache-argo-exec")
    _submit(run, changed, second)
    assert computed(log) == 6 and computed(log, "square-4") == 1
    assert submissions(root) == 6  # square(4) and total
    assert _total(changed) == 21


@pytest.mark.parametrize(("name", "engine"), [pytest.param("cache", "argo", id="argo")])
def test_a_job_without_cache_access_leaves_an_entry_its_pod_stored(name, engine, request):
    """A cache in a bucket, and a job whose environment has no credentials for it (its
    pre_script drops them, as a cluster that never gets them): the pod keyed the step, so it
    stores the outputs the job brought back; the next Argo run restores them in its pod and
    submits nothing, and so does the local engine."""
    import uuid

    run = request.getfixturevalue("engine_run")
    root = run.workdir
    bucket = request.getfixturevalue("argo_repository").bucket
    run.monkeypatch.setenv("DFLOW_CACHE_DIR", f"s3://{bucket}/cache-{uuid.uuid4().hex[:8]}")
    log = root / "log"
    log.mkdir()

    def one() -> Workflow:
        ex = shell(root)
        # the cache's variables the task script sets (what a cluster's job would get; here
        # the Shell batch's job also inherits the pod's environment) and the size of the
        # job's cache spec, then none of the variables
        ex.pre_script = (
            f"grep '^export DFLOW_CACHE_' .dflow-task.sh > {root / 'job-env'};"
            f" wc -c < tmp/inputs/parameters/dflow_cache > {root / 'job-spec'};"
            " unset DFLOW_CACHE_S3_ACCESS_KEY DFLOW_CACHE_S3_SECRET_KEY"
        )
        wf = Workflow(name="cache-no-access")
        tmpl = PythonOPTemplate(square)
        wf.add(Step("sq", tmpl, {"x": 3, "log": str(log)}, executor=ex, cache=True))
        return wf

    _submit(run, one(), "argo")
    assert computed(log) == 1 and submissions(root) == 1
    assert (root / "job-env").read_text() == ""  # the cache's credentials were not sent
    assert (root / "job-spec").read_text().strip() == "0"  # the job runs uncached
    again = one()
    _submit(run, again, "argo")
    assert submissions(root) == 1  # restored by the pod from the entry the first pod stored
    assert again.query_step(name="sq")[0].outputs.parameters["y"].value == 9
    local = one()
    _submit(run, local, "local")
    assert local.query_step(name="sq")[0].outputs.parameters["y"].value == 9
    assert computed(log) == 1 and submissions(root) == 1


def _words(n: int, root: Path) -> Workflow:
    """A shell step (``y`` = n times the words of ``words.txt``) as a DPDispatcher job."""
    wf = script_words(n, root / "words.txt", root / "log", image=None)
    for step in wf.entrypoint.iter_steps():
        step.executor = shell(root)
    return wf


@pytest.mark.parametrize(
    ("name", "engine", "first"),
    [
        pytest.param("cache", "argo", "argo", id="argo-then-argo"),
        pytest.param("cache", "argo", "local", id="local-then-argo"),
    ],
)
def test_a_dispatcher_pod_wraps_the_submission_of_a_cached_script(name, engine, first, request):
    """A script with an executor: the pod keys it as ``run_cached`` keys a script, restores a
    hit and submits nothing, else submits the job and stores what it brought back."""
    run = request.getfixturevalue("engine_run")
    root = run.workdir
    run.monkeypatch.setenv("DFLOW_CACHE_DIR", str(root / "cache"))
    (root / "log").mkdir()
    (root / "words.txt").write_text("one two three")
    _use(run, first)  # the upload goes where that engine reads it
    _submit(run, _words(3, root), first)
    assert script_runs(root / "log") == 1 and submissions(root) == 1
    _use(run, "argo")
    again = _words(3, root)
    _submit(run, again, "argo")
    assert script_runs(root / "log") == 1
    assert submissions(root) == 1  # restored in the pod: nothing submitted
    step = again.query_step(name="words")[0]
    assert step.outputs.parameters["y"].value == "9"
    assert run.text(step.outputs.artifacts["out"]) == "one two three"
    changed = _words(4, root)
    _submit(run, changed, "argo")
    assert script_runs(root / "log") == 2 and submissions(root) == 2
    assert changed.query_step(name="words")[0].outputs.parameters["y"].value == "12"


# -- one key in the pod, the job and a local worker -----------------------------------------


class Mixed(OP):
    """Inputs of every kind the runner reads: texts, decoded values, artifact shapes."""

    @classmethod
    def get_input_sign(cls):
        from dflow.python import OPIOSign, Parameter

        return OPIOSign(
            {
                "word": str,
                "n": int,
                "maybe": Parameter(str | None, default=None),
                "conf": dict,
                "one": Artifact(Path),
                "many": Artifact(list[Path]),
                "named": Artifact(dict[str, Path]),
                "absent": Artifact(Path, optional=True),
            }
        )

    @classmethod
    def get_output_sign(cls):
        from dflow.python import OPIOSign

        return OPIOSign({"y": int})

    def execute(self, op_in):
        raise AssertionError("keying never runs the OP")


def _inputs(root: Path) -> Path:
    from dflow import catalog

    ins = root / "inputs"
    pars = ins / "parameters"
    pars.mkdir(parents=True)
    for name, text in {
        "word": "12",
        "n": "12",
        "maybe": '"x"',
        "conf": '{"b": 1, "a": [2]}',
    }.items():
        (pars / name).write_text(text)
    arts = ins / "artifacts"
    (arts / "one").mkdir(parents=True)
    (arts / "one" / "a.txt").write_text("a")
    for name, items in {"many": ["p.txt", "q.txt"], "named": ["k.txt"]}.items():
        (arts / name).mkdir()
        for item in items:
            (arts / name / item).write_text(item)
        if name == "many":
            listed = [{"dflow_list_item": i, "order": n} for n, i in enumerate(items)]
        else:
            listed = [{"dflow_list_item": i, "order": "k"} for i in items]
        catalog.write_catalog(arts / name, listed)
    return ins


def test_the_pod_keys_a_step_as_the_job_and_a_worker_do(tmp_path, monkeypatch):
    """The stand-in of a described OP reads every kind of input as the OP would: one key."""
    from dflow.runner.cache import CacheSpec
    from dflow.runner.cacheop import describe, stand_in
    from dflow.runner.core import probe_cache

    ins = _inputs(tmp_path)
    spec = CacheSpec(root=str(tmp_path / "cache"), fields={"image": "python:3.11"})
    desc = describe(Mixed)
    assert desc is not None
    kw = dict(inputs_dir=ins, outputs_dir=tmp_path / "outputs", workdir=tmp_path, probe=True)
    real = probe_cache(Mixed, spec, **kw)
    pod = probe_cache(stand_in(desc), spec, source=desc["source"], **kw)
    assert real is not None and pod is not None
    assert real.record["parameters"]["word"] == '"12"' and real.record["parameters"]["n"] == "12"
    assert real.record["artifacts"]["absent"] is None and real.record["artifacts"]["named"]
    assert pod.record == real.record
    assert pod.key == real.key


def test_the_pod_stores_the_job_s_outputs_only_when_it_succeeded(tmp_path):
    """After the job, the pod stores what it brought back under the key its check saved: not
    for a failed job nor one whose success tag says false (recorded as failed), and never
    the tag itself; the next check restores the entry."""
    from dflow.runner.cache import CacheSpec
    from dflow.runner.cacheentries import history_path, read_manifest
    from dflow.runner.cacheop import describe, stand_in, store_outputs
    from dflow.runner.core import probe_cache
    from dflow.runner.scriptcache import save_lookup

    ins, out = _inputs(tmp_path), tmp_path / "outputs"
    cache = tmp_path / "cache"
    spec = CacheSpec(root=str(cache), run="r1", step="wf/mixed", fields={"image": "py"})
    desc = describe(Mixed)

    def check(n: int):
        kw = dict(inputs_dir=ins, outputs_dir=out, workdir=tmp_path, probe=False)
        return probe_cache(stand_in(desc), spec, source=desc["source"], **kw)

    def saved(n: int) -> str:
        lk = check(n)
        assert not lk.reused and save_lookup(lk, str(tmp_path / f"state{n}"))
        return str(tmp_path / f"state{n}")

    (out / "parameters").mkdir(parents=True)
    (out / "parameters" / "y").write_text("7")
    (out / "success_tag").write_text("false")  # a slice failed, tolerated by the tag
    store_outputs(saved(1), str(out), True)
    store_outputs(saved(2), str(out), False)  # the job's exit status was not 0
    key = check(3).key
    assert read_manifest(str(cache), key)[1] == "missing"
    (out / "success_tag").write_text("true")
    store_outputs(saved(4), str(out), True)
    manifest, why = read_manifest(str(cache), key)
    assert why == "" and sorted(manifest["files"]) == ["parameters/y"]
    assert (out / "success_tag").read_text() == "true"  # put back
    lines = Path(history_path(str(cache), "wf/mixed")).read_text().splitlines()
    assert [json.loads(line)["outcome"] for line in lines] == ["failed", "failed", "computed"]
    (out / "parameters" / "y").unlink()
    assert check(5).reused and (out / "parameters" / "y").read_text() == "7"


def test_the_rendered_spec_describes_the_op_and_the_manifest_is_valid(tmp_path, monkeypatch):
    """The step's ``dflow_cache`` argument carries the OP's description (only for an OP sent
    to an executor); the manifest passes the Argo schemas and the linter."""
    from argo_schema import assert_valid
    from dflow_engine_argo.lint import check
    from dflow_engine_argo.render import ArgoRenderer

    monkeypatch.setenv("DFLOW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "words.txt").write_text("one")
    wf = sent([1, 2], tmp_path / "log", shell(tmp_path), "cache-argo-exec")
    for step in _words(2, tmp_path).entrypoint.iter_steps():
        wf.add(step)
    plain = Step("plain", PythonOPTemplate(square), parameters={"x": 1, "log": "l"}, cache=True)
    wf.add(plain)
    manifest = ArgoRenderer(artifact_kind="s3").manifest(wf)
    assert_valid(manifest)
    check(manifest)
    specs = {
        step["name"]: json.loads(arg["value"])
        for tmpl in manifest["spec"]["templates"]
        for group in tmpl.get("steps") or []
        for step in group
        for arg in (step.get("arguments") or {}).get("parameters") or []
        if arg["name"] == "dflow_cache"
    }
    assert specs["square"]["op"]["name"] == "cache_ops.square"
    assert specs["square"]["op"]["inputs"] == [["x", "json"], ["log", "text"]]
    assert len(specs["square"]["op"]["source"]) == 64
    assert "op" not in specs["plain"]  # its pod imports the OP
    assert "op" not in specs["words"] and specs["words"]["fields"]["script"]


def test_a_path_argo_would_substitute_is_refused_by_the_step_cache_pods(tmp_path, monkeypatch):
    """A declared path pasted as a literal into a step-cache pod's source must hold no
    ``{{`` (one check in core, ``static_literal``, for the renderer's and SlurmJobTemplate's
    pods): the error names the path."""
    from dflow import InputParameter, OutputParameter, ShellOPTemplate
    from dflow_engine_argo.render import ArgoRenderer
    from dflow_executor_slurm import SlurmJobTemplate

    monkeypatch.setenv("DFLOW_CACHE_DIR", str(tmp_path / "cache"))
    bad = "/tmp/outputs/{{workflow.name}}/y"
    for ex in (None, SlurmJobTemplate(node_selector={"k": "v"})):
        tmpl = ShellOPTemplate(name="odd", image="alpine:3.19", script="echo 1", cache=True)
        tmpl.inputs.parameters = {"n": InputParameter()}
        tmpl.outputs.parameters = {"y": OutputParameter(value_from_path=bad)}
        wf = Workflow(name="cache-odd")
        wf.add(Step("odd", tmpl, {"n": 1}, executor=ex))
        with pytest.raises(Exception, match=r"contains '\{\{', which Argo would substitute"):
            ArgoRenderer(artifact_kind="s3").manifest(wf)


# -- SlurmJobTemplate: the prepare pod checks, the run step is skipped ------------------------


def _prepared_then_job(pod: Path, node: Path, job: Path, steps: dict, cr: dict, env) -> tuple:
    """After a SlurmJobTemplate step's prepare pod: its job key and ``dflow_cached``; the job
    run here (from the node's ``in/`` into its ``out/``) when the run step's ``when`` holds.
    The job never reaches the cache: its directory (``<tmp_path>/cache``) is an empty,
    read-only tmpfs where the job runs (a mount namespace of its own), as on a Slurm node
    without the mount; a job that tried to use it would say so in its log."""

    from test_executors_argo import play_slurm_job, substitute

    key = (pod / "tmp" / "dflow-slurm-key").read_text()
    cached = (pod / "tmp" / "dflow-slurm-cached").read_text()
    run = next(s for g in steps["steps"] for s in g if s["name"] == "slurm-run")
    when = substitute(run["when"], {"steps.slurm-prepare.outputs.parameters.dflow_cached": cached})
    assert when in ("false != true", "true != true")
    if when == "false != true":  # Argo's govaluate: the run step executes
        hide = 'mkdir -p "$0" && mount -t tmpfs -o ro dflow-no-cache "$0" && exec sh -c "$1"'
        cache = node.parent / "cache"
        proc = play_slurm_job(
            cr,
            key,
            node,
            job,
            argv=lambda batch: ["unshare", "-m", "sh", "-c", hide, str(cache), batch],
            env=env,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "[dflow cache]" not in proc.stdout + proc.stderr  # it ran uncached
    return key, cached


def _chain_parts(tmp_path: Path, manifest: dict, name: str, attempt: int, params: dict) -> tuple:
    """A SlurmJobTemplate step's Steps template, SlurmJob resource, the chain's folders (the
    node, prepare's pod, the job, collect's pod) and prepare's variables (``params`` and the
    step's cache spec)."""
    import yaml
    from test_executors_argo import template

    [spec] = [
        a["value"]
        for t in manifest["spec"]["templates"]
        for g in t.get("steps") or []
        for s in g
        for a in (s.get("arguments") or {}).get("parameters") or []
        if a["name"] == "dflow_cache" and "{{" not in a["value"]
    ]
    cr = yaml.safe_load(template(manifest, f"{name}-slurm-run-resource")["resource"]["manifest"])
    base = tmp_path / f"attempt{attempt}"
    folders = (tmp_path / "node", base / "pod", base / "job", base / "collect")
    values = {f"inputs.parameters.{k}": v for k, v in params.items()}
    values.update(
        {"inputs.parameters.dflow_cache": spec, "workflow.name": "wf", "pod.name": f"wf-{attempt}"}
    )
    return template(manifest, f"{name}-slurm"), cr, folders, values


def _slurm_chain(tmp_path: Path, manifest: dict, renderer, wf, attempt: int) -> tuple:
    """Run the step's chain as Argo and wlm-operator would: the prepare pod, the job's batch
    script (unless its `when` is false), the collect pod; (prepare's dflow_cached, y)."""
    import os
    import subprocess

    from test_executors_argo import argo_reads, slurm_prepare, template

    params = {"x": "3", "log": str(tmp_path / "log")}
    steps, cr, (node, pod, job, out), values = _chain_parts(
        tmp_path, manifest, "square", attempt, params
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    prepare = template(manifest, "square-slurm-prepare")
    text, as_pod = slurm_prepare(renderer, wf, prepare, node, pod, values, env)
    src = pod.parent / "prepare.sh"
    src.write_text(text)
    pod_env = {**env, "DFLOW_TMP_ROOT": str(pod / "tmp")}  # the runner's /tmp in this pod
    proc = subprocess.run(["sh", str(src)], capture_output=True, text=True, env=pod_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    key, cached = _prepared_then_job(pod, node, job, steps, cr, env)
    values = {"inputs.parameters.dflow_slurm_key": key, **values}
    _pod_run(renderer, wf, template(manifest, "square-slurm-collect"), node, out, values)
    return cached, argo_reads(out / "tmp" / "outputs" / "parameters" / "y")


def _local_slurm_run(tmp_path: Path, monkeypatch) -> None:
    """The step on the local engine, its job on the real local Slurm."""
    from dflow.config import config
    from dflow_executor_slurm import SlurmJobTemplate

    monkeypatch.setitem(config, "mode", "local")
    monkeypatch.setitem(config, "debug_workdir", str(tmp_path / "runs"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir(exist_ok=True)
    wf = Workflow(name="cache-slurm")
    log = str(tmp_path / "log")
    ex = SlurmJobTemplate()
    wf.add(Step("sq", PythonOPTemplate(square), {"x": 3, "log": log}, executor=ex, cache=True))
    wf.submit()
    wf.wait()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    assert wf.query_step(name="sq")[0].outputs.parameters["y"].value == 9


@pytest.mark.parametrize("first", ["argo", "local"])
def test_a_slurm_job_template_step_is_restored_by_its_prepare_pod(
    first, tmp_path, monkeypatch, request
):
    """SlurmJobTemplate on Argo: the first run's job computes, without reaching the cache,
    and its collect pod stores the outputs under the key prepare saved (or the local engine
    with the real local Slurm computes and stores); the next Argo run's prepare pod restores
    the outputs where collect reads them and says so, and the run step's `when` is false (no
    job). An entry the Argo collect pod stored serves the local engine."""
    from argo_schema import assert_valid
    from dflow.config import config
    from dflow_engine_argo.lint import check
    from dflow_engine_argo.render import ArgoRenderer
    from dflow_executor_slurm import SlurmJobTemplate

    monkeypatch.setenv("DFLOW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(config, "util_image", "python:3.8")
    (tmp_path / "log").mkdir()
    ex = SlurmJobTemplate(header="#!/bin/sh\n#SBATCH -N 1", node_selector={"k": "v"})
    wf = Workflow(name="cache-slurm")
    log = str(tmp_path / "log")
    wf.add(Step("sq", PythonOPTemplate(square), {"x": 3, "log": log}, executor=ex, cache=True))
    renderer = ArgoRenderer(artifact_kind="s3")
    manifest = renderer.manifest(wf)
    assert_valid(manifest)
    check(manifest)
    if first == "local":
        request.getfixturevalue("local_slurm")
        _local_slurm_run(tmp_path, monkeypatch)
    else:
        assert _slurm_chain(tmp_path, manifest, renderer, wf, 1) == ("false", "9")
        assert list((tmp_path / "cache" / "entries").rglob("*.json"))  # stored by collect
    assert computed(tmp_path / "log") == 1
    assert _slurm_chain(tmp_path, manifest, renderer, wf, 2) == ("true", "9")
    assert computed(tmp_path / "log") == 1
    assert not (tmp_path / "attempt2" / "job").exists()  # no job
    if first == "argo":
        request.getfixturevalue("local_slurm")
        _local_slurm_run(tmp_path, monkeypatch)
        assert computed(tmp_path / "log") == 1  # the local engine reused the Argo job's entry


# -- SlurmJobTemplate and a script: prepare keys it, collect stores the job's outputs ---------

TRIPLE = """\
echo run >> {{inputs.parameters.log}}/script-runs
mkdir -p "$(dirname /tmp/outputs/parameters/y)"
echo $(( {{inputs.parameters.n}} * 3 )) > /tmp/outputs/parameters/y
"""


def _triple(n: int, log: Path, ex) -> Workflow:
    """A cached shell step (``y`` = 3 n) sent through ``ex``."""
    from dflow import InputParameter, OutputParameter, ShellOPTemplate

    tmpl = ShellOPTemplate(name="triple", image="alpine:3.19", script=TRIPLE, cache=True)
    tmpl.inputs.parameters = {"n": InputParameter(), "log": InputParameter()}
    tmpl.outputs.parameters = {"y": OutputParameter(value_from_path="/tmp/outputs/parameters/y")}
    wf = Workflow(name="cache-slurm-sh")
    wf.add(Step("tr", tmpl, {"n": n, "log": str(log)}, executor=ex))
    return wf


def _pod_run(renderer, wf, tmpl: dict, node: Path, pod: Path, values: dict) -> None:
    """One pod of the chain, with the step cache (python3 running the shipped runtime): its
    shell script (``dflow_script``, pod paths mapped up to its payload) run by its source."""
    import os
    import subprocess

    from test_executors_argo import slurm_prepare

    env = {k: v for k, v in os.environ.items() if not k.startswith("DFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    text, as_pod = slurm_prepare(renderer, wf, tmpl, node, pod, values, env)
    script = pod / "tmp" / "dflow_script"
    head, sep, payload = script.read_text().partition("\nexit 0\n")  # the user's script: as is
    script.write_text(as_pod(head) + sep + payload)
    (pod / "source.py").write_text(text)
    env["DFLOW_TMP_ROOT"] = str(pod / "tmp")
    proc = subprocess.run([sys.executable, str(pod / "source.py")], capture_output=True, env=env)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def _script_chain(tmp_path: Path, manifest: dict, renderer, wf, n: int, attempt: int) -> tuple:
    """The script step's chain as Argo and wlm-operator run it; (prepare's dflow_cached, y)."""
    from test_executors_argo import argo_reads, template

    params = {"n": str(n), "log": str(tmp_path / "log")}
    steps, cr, (node, pod, job, out), values = _chain_parts(
        tmp_path, manifest, "triple", attempt, params
    )
    _pod_run(renderer, wf, template(manifest, "triple-slurm-prepare"), node, pod, values)
    key, cached = _prepared_then_job(pod, node, job, steps, cr, None)
    values = {"inputs.parameters.dflow_slurm_key": key, **values}
    _pod_run(renderer, wf, template(manifest, "triple-slurm-collect"), node, out, values)
    return cached, argo_reads(out / "tmp" / "outputs" / "parameters" / "y")


@pytest.mark.parametrize("first", ["argo", "local"])
def test_a_slurm_job_template_script_is_keyed_by_prepare_and_stored_by_collect(
    first, tmp_path, monkeypatch, request
):
    """A script through SlurmJobTemplate on Argo: the first run's job computes and its
    collect pod stores the outputs (or the local engine with the real local Slurm does: one
    key); the next run's prepare pod restores them and says so, the run step's `when` is
    false (no job); a changed parameter runs the job again."""
    from argo_schema import assert_valid
    from dflow.config import config
    from dflow_engine_argo.lint import check
    from dflow_engine_argo.render import ArgoRenderer
    from dflow_executor_slurm import SlurmJobTemplate

    monkeypatch.setenv("DFLOW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(config, "util_image", "python:3.8")
    log = tmp_path / "log"
    log.mkdir()
    ex = SlurmJobTemplate(header="#!/bin/sh\n#SBATCH -N 1", node_selector={"k": "v"})
    renderer = ArgoRenderer(artifact_kind="s3")

    def manifest(n: int) -> tuple:
        wf = _triple(n, log, ex)
        m = renderer.manifest(wf)
        assert_valid(m)
        check(m)
        return m, wf

    m3, wf3 = manifest(3)
    if first == "local":
        request.getfixturevalue("local_slurm")
        _local_script_run(tmp_path, monkeypatch)
    else:
        assert _script_chain(tmp_path, m3, renderer, wf3, 3, 1) == ("false", "9")
        assert list((tmp_path / "cache" / "entries").rglob("*.json"))  # stored by collect
    assert script_runs(log) == 1
    assert _script_chain(tmp_path, m3, renderer, wf3, 3, 2) == ("true", "9")
    assert script_runs(log) == 1
    assert not (tmp_path / "attempt2" / "job").exists()  # no job
    m4, wf4 = manifest(4)
    assert _script_chain(tmp_path, m4, renderer, wf4, 4, 3) == ("false", "12")
    assert script_runs(log) == 2
    if first == "argo":
        request.getfixturevalue("local_slurm")
        _local_script_run(tmp_path, monkeypatch)
        assert script_runs(log) == 2  # the local engine reused the Argo collect's entry


def _local_script_run(tmp_path: Path, monkeypatch) -> None:
    """The script step (n = 3) on the local engine, its job on the real local Slurm."""
    from dflow.config import config
    from dflow_executor_slurm import SlurmJobTemplate

    monkeypatch.setitem(config, "mode", "local")
    monkeypatch.setitem(config, "debug_workdir", str(tmp_path / "runs"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir(exist_ok=True)
    wf = _triple(3, tmp_path / "log", SlurmJobTemplate())
    wf.submit()
    wf.wait()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    assert wf.query_step(name="tr")[0].outputs.parameters["y"].value == "9"


def test_an_uncached_slurm_job_template_script_renders_as_before(tmp_path, monkeypatch):
    """Without the step cache the script's prepare and collect stay plain ``sh`` pods, with no
    ``dflow_cache`` and no `when` on the run step."""
    from dflow_engine_argo.render import ArgoRenderer
    from dflow_executor_slurm import SlurmJobTemplate
    from test_executors_argo import template

    monkeypatch.setenv("DFLOW_CACHE_DIR", str(tmp_path / "cache"))
    wf = _triple(3, tmp_path, SlurmJobTemplate(node_selector={"k": "v"}))
    wf.entrypoint.iter_steps().__next__().template.cache = False
    m = ArgoRenderer(artifact_kind="s3").manifest(wf)
    for name in ("triple-slurm-prepare", "triple-slurm-collect"):
        t = template(m, name)
        assert t["script"]["command"] == ["sh"]
        assert "dflow_cache" not in [p["name"] for p in t["inputs"]["parameters"]]
    steps = template(m, "triple-slurm")
    assert all("when" not in s for g in steps["steps"] for s in g)


# -- an OP loaded from a file (--op-file): one key in every job -------------------------------


def _from_file(name: str):
    """``cache_ops``' OP ``name`` from its file under another module name: not importable by
    that name, so the job loads it from the shipped file (``--op-file``), as a script's OP."""
    import importlib.util

    path = Path(__file__).parent / "cache_ops.py"
    spec = importlib.util.spec_from_file_location("cache_ops_as_file", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["cache_ops_as_file"] = module
    spec.loader.exec_module(module)
    return getattr(module, name)


@pytest.mark.parametrize(("name", "engine"), [pytest.param("cache", "argo", id="argo")])
def test_an_op_loaded_from_a_file_is_reused_by_the_next_job(name, engine, request):
    """The job names the module of an ``--op-file`` OP after the file, not the path of the
    job's work directory (new for each submission), so the first job's entry serves the next
    run (before, the key changed with every submission); the pod keys the step as the job
    does (the renderer describes the shipped file) and submits no job."""
    run = request.getfixturevalue("engine_run")
    root = run.workdir
    run.monkeypatch.setenv("DFLOW_CACHE_DIR", str(root / "cache"))
    log = root / "log"
    log.mkdir()
    op = _from_file("square")

    def one() -> Workflow:
        wf = Workflow(name="cache-op-file")
        tmpl = PythonOPTemplate(op)
        wf.add(Step("sq", tmpl, {"x": 3, "log": str(log)}, executor=shell(root), cache=True))
        return wf

    _submit(run, one(), "argo")
    assert submissions(root) == 1
    again = one()
    _submit(run, again, "argo")
    assert again.query_step(name="sq")[0].outputs.parameters["y"].value == 9
    records = _history(root, "cache-op-file/sq")
    assert [r["outcome"] for r in records] == ["computed", "reused"], records
    assert records[0]["key"] == records[1]["key"]
    assert records[0]["record"]["op"]["name"] == "<script>.square"  # as any shipped file's
    assert computed(log) == 1
    assert submissions(root) == 1  # the pod restored the step: no job


def test_a_file_op_is_named_alike_from_any_path_and_an_importable_op_as_before(tmp_path):
    """Two copies of one OP file (two submissions' work directories) load as one module
    name; an OP imported by its module's name keeps its key name (existing entries hit)."""
    import shutil

    from dflow.runner import load_op_file, locate_op
    from dflow.runner.cacheop import describe

    src = Path(__file__).parent / "cache_ops.py"
    names = []
    for where in ("job-a/tmp/packages", "job-b/tmp/packages"):
        (tmp_path / where).mkdir(parents=True)
        shutil.copy(src, tmp_path / where / "cache_ops.py")
        op = load_op_file(f"{tmp_path / where / 'cache_ops.py'}:square")
        names.append(describe(op)["name"])
    assert names[0] == names[1] == "<script>.square"
    assert describe(locate_op("cache_ops:square"))["name"] == "cache_ops.square"

"""Rules the local engine shares with the Argo renderer (``dflow.semantics``, and the shapes the
renderer gives values and artifacts), checked on the local engine.

The Argo side of each rule is checked on the rendered manifest and in the pod sandbox
(``plugins/engine_argo/tests/render/test_dag_semantics.py``, ``test_sub_path_slices.py``);
``tests/test_engine_parity.py`` checks the local runs against the rendered manifests, and
``tests/test_conformance_parity.py`` runs the same workflows on both engines (Argo through the
conformance harness).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dflow import (
    DAG,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Task,
    Workflow,
    download_artifact,
    upload_artifact,
)
from dflow.executor import Executor, JobResult
from dflow.python import OP, Artifact, PythonOPTemplate, Slices
from dflow.semantics import EMPTY_LOOP_MESSAGE, OMITTED_MESSAGE


def _echo(name="echo"):
    """Writes its input ``x`` to its output ``y`` (default ``"none"``)."""
    t = ShellOPTemplate(name=name, image="alpine:3", script="echo {{inputs.parameters.x}} > /tmp/y")
    t.inputs.parameters = {"x": InputParameter()}
    t.outputs.parameters = {"y": OutputParameter(value_from_path="/tmp/y", default="none")}
    return t


def _steps(wf, name):
    return {s.displayName: s for s in wf.query_step(name=name)}


def _one(wf, name):
    [step] = wf.query_step(name=name)
    return step


# -- 1. a DAG task runs when its dependencies Succeeded -------------------------------------


def test_a_task_after_a_skipped_one_is_omitted(workdir):
    """Regression: the local engine ran the dependents of a Skipped task (pydflow's
    ``(a.Succeeded)``, Argo: Omitted, type Skipped, and so are their own dependents)."""
    dag = DAG("d")
    a = Task("a", _echo(), parameters={"x": 1}, when="1 > 2")
    b = Task("b", _echo(), parameters={"x": a.outputs.parameters["y"]})
    c = Task("c", _echo(), parameters={"x": 3}, dependencies=[b])
    d = Task("d", _echo(), parameters={"x": 4})
    dag.add([a, b, c, d])
    wf = Workflow("skipdag", dag=dag)
    wf.submit()
    assert wf.query_status() == "Succeeded"  # the branch ends after a skipped task (Argo)
    assert _one(wf, "a").phase == "Skipped"
    for name in ("b", "c"):
        step = _one(wf, name)
        assert (step.type, step.phase, step.message) == ("Skipped", "Omitted", OMITTED_MESSAGE)
    assert _one(wf, "d").outputs.parameters["y"].value == "4"
    ran = sorted(p.name.rsplit("-", 2)[1] for p in (workdir / wf.id).glob(f"{wf.id}-*"))
    assert ran == ["d"]  # b and c left no step directory: they never ran


def test_a_step_after_a_skipped_step_runs(workdir):
    wf = Workflow("skipsteps")
    wf.add(Step("a", _echo(), parameters={"x": 1}, when="1 > 2"))
    wf.add(Step("b", _echo(), parameters={"x": 2}))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert _one(wf, "b").outputs.parameters["y"].value == "2"


def _bad_loop(**cont):
    """A task whose loop items cannot be read (an Error at run time), and a dependent."""
    dag = DAG("d")
    t0 = Task("t0", _echo(), parameters={"x": "not-a-list"})
    a = Task(
        "a", _echo(), parameters={"x": "{{item}}"}, with_param=t0.outputs.parameters["y"], **cont
    )
    b = Task("b", _echo(), parameters={"x": 2}, dependencies=[a])
    dag.add([t0, a, b])
    return Workflow("errdag", dag=dag)


def test_continue_on_failed_does_not_continue_an_error(workdir):
    """Regression: an Error was continued by continue_on_failed (pydflow's debug mode); on
    Argo only continue_on_error continues it, and the renderer writes ``a.Failed`` only."""
    wf = _bad_loop(continue_on_failed=True)
    wf.submit()
    assert wf.query_status() == "Error"
    assert _one(wf, "a").phase == "Error"
    assert "with_param is not a JSON list" in _one(wf, "a").message
    assert _one(wf, "b").phase == "Omitted"


def test_continue_on_error_lets_dependents_run(workdir):
    wf = _bad_loop(continue_on_error=True)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert _one(wf, "b").outputs.parameters["y"].value == "2"


def test_a_loop_without_items_is_skipped(workdir):
    """Regression: an empty fan-out Succeeded and its dependents ran; Argo skips it ("Skipped,
    empty params"), so its outputs are their defaults and its DAG dependents are omitted."""
    dag = DAG("d")
    a = Task("a", _echo(), parameters={"x": "{{item}}"}, with_param=[])
    b = Task("b", _echo(), parameters={"x": 2}, dependencies=[a])
    dag.add([a, b])
    wf = Workflow("emptydag", dag=dag)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    a_step = _one(wf, "a")
    assert (a_step.type, a_step.phase, a_step.message) == ("Skipped", "Skipped", EMPTY_LOOP_MESSAGE)
    assert _one(wf, "b").phase == "Omitted"
    wf = Workflow("emptysteps")
    first = Step("a", _echo(), parameters={"x": "{{item}}"}, with_param=[])
    wf.add(first)
    wf.add(Step("b", _echo(), parameters={"x": first.outputs.parameters["y"]}))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert _one(wf, "b").outputs.parameters["y"].value == "none"  # a's default


# -- 2. Slices(sub_path=True): the item under its own name -----------------------------------


@OP.function
def name_of(file: Artifact(Path)) -> {"name": str, "text": str, "where": str}:
    return {"name": Path(file).name, "text": Path(file).read_text(), "where": str(file)}


def test_a_sub_path_item_keeps_its_own_name(workdir):
    """Regression: the OP got the item as ``inputs/artifacts/file`` itself; on Argo (and in
    pydflow) it lands at ``inputs/artifacts/file/<item path>``, so its name is its own."""
    os.makedirs("data/sub dir")
    Path("data/a.txt").write_text("A")
    Path('data/sub dir/"q" b.txt').write_text("B")
    art = upload_artifact(["data/a.txt", 'data/sub dir/"q" b.txt'], archive=None)
    step = Step(
        "names",
        PythonOPTemplate(
            name_of,
            slices=Slices(
                sub_path=True, input_artifact=["file"], output_parameter=["name", "text", "where"]
            ),
        ),
        artifacts={"file": art},
    )
    wf = Workflow("subpath")
    wf.add(step)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    group = [s for s in wf.query_step(name="names") if s.type == "StepGroup"][0]
    out = {k: group.outputs.parameters[k].value for k in ("name", "text", "where")}
    assert out["name"] == ["a.txt", '"q" b.txt']
    assert out["text"] == ["A", "B"]
    for where, item in zip(out["where"], ["data/a.txt", 'data/sub dir/"q" b.txt'], strict=True):
        assert where.endswith(f"/workdir/tmp/inputs/artifacts/file/{item}"), where
        catalog = Path(where[: -len(item)]) / ".dflow" / "slice"
        assert json.loads(catalog.read_text()) == {"path_list": [{"dflow_list_item": item}]}


class _Here(Executor):
    """Runs each job where it is (a scheduler on a shared filesystem)."""

    def run(self, job):
        with open(job.log_path, "ab") as log:
            proc = subprocess.run(
                [*job.command, str(job.script_path)],
                cwd=job.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **job.env},
            )
        return JobResult(proc.returncode)


def test_a_sub_path_item_keeps_its_name_in_an_executor_job(workdir):
    Path("a.txt").write_text("A")
    art = upload_artifact(["a.txt"], archive=None)
    step = Step(
        "names",
        PythonOPTemplate(
            name_of,
            command=[sys.executable],
            slices=Slices(
                sub_path=True, input_artifact=["file"], output_parameter=["name", "text", "where"]
            ),
        ),
        artifacts={"file": art},
        executor=_Here(),
    )
    wf = Workflow("subpath-job")
    wf.add(step)
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    group = [s for s in wf.query_step(name="names") if s.type == "StepGroup"][0]
    assert group.outputs.parameters["name"].value == ["a.txt"]
    assert group.outputs.parameters["where"].value[0].endswith("tmp/inputs/artifacts/file/a.txt")


# -- 3. references inside list literals -----------------------------------------------------


def test_references_inside_lists_are_substituted(workdir):
    """Regression: ``with_param=[t0.outputs.parameters["y"], 5]`` failed with ``TypeError:
    Object of type OutputParameter is not JSON serializable``; a list parameter holding
    ``{{item}}`` got the first item's value in every item. Both are substituted per item, as
    Argo substitutes the ``{{=toJson(...)}}`` placeholders the renderer writes."""
    dag = DAG("d")
    t0 = Task("t0", _echo(), parameters={"x": 7})
    t1 = Task(
        "t1", _echo(), parameters={"x": "{{item}}"}, with_param=[t0.outputs.parameters["y"], 5]
    )
    t2 = Task(
        "t2", _echo(), parameters={"x": [t0.outputs.parameters["y"], "{{item}}"]}, with_param=[1, 2]
    )
    dag.add([t0, t1, t2])
    wf = Workflow("listref", dag=dag)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    t1s = _steps(wf, "t1")
    assert sorted(t1s) == ["t1", "t1(0:7)", "t1(1:5)"]
    assert t1s["t1"].outputs.parameters["y"].value == ["7", "5"]
    t2s = _steps(wf, "t2")
    assert [t2s[f"t2({i}:{i + 1})"].inputs.parameters["x"].value for i in range(2)] == [
        '["7", "1"]',
        '["7", "2"]',
    ]


# -- 4. download_artifact of a local step's output: debug_copy_method -----------------------


def test_download_links_a_local_output_as_pydflow(workdir):
    """Regression: the files were copied; pydflow's debug mode links them per
    ``config["debug_copy_method"]`` (default ``symlink``)."""
    from dflow.config import config

    t = ShellOPTemplate(
        name="w", image="alpine:3", script="mkdir -p /tmp/out/sub && echo x > /tmp/out/sub/x.txt"
    )
    t.outputs.artifacts = {"out": OutputArtifact(path="/tmp/out")}
    wf = Workflow("dl")
    wf.add(Step("w", t))
    wf.submit()
    art = _one(wf, "w").outputs.artifacts["out"]
    produced = Path(art["local_path"]).resolve() / "sub" / "x.txt"
    [got] = download_artifact(art, path="linked")
    file = Path(got) / "sub" / "x.txt"
    assert file.is_symlink() and file.resolve() == produced
    config["debug_copy_method"] = "link"
    [got] = download_artifact(art, path="hard")
    file = Path(got) / "sub" / "x.txt"
    assert not file.is_symlink() and file.stat().st_ino == produced.stat().st_ino
    config["debug_copy_method"] = "copy"
    [got] = download_artifact(art, path="copied")
    file = Path(got) / "sub" / "x.txt"
    assert not file.is_symlink() and file.stat().st_ino != produced.stat().st_ino
    assert file.read_text() == "x\n"

"""The local engine and the Argo renderer take the same path through a DAG.

Each workflow runs on the local engine and is rendered for Argo. Argo's controller cannot run
here, so each rendered ``depends`` is evaluated the way the controller evaluates it
(``workflow/controller/dag.go`` ``evaluateDependsLogic``, v3.7.18 and v4.1.2: every dependency
bound to its ``TaskResults``, ``-`` read as ``_``; written out below, independently of
``dflow.semantics``) on the phases the local run produced: a task ran locally exactly when
Argo would have started it, and was Omitted otherwise. Loop items are compared the same way:
the rendered ``withParam`` substituted as Argo substitutes it, against the items that ran. A
``Slices(sub_path=True)`` step runs in the pod sandbox (``plugins/engine_argo/tests/render/
sandbox.py``: the helper that lists the items, then each item's pod, laid out as Argo's
executor lays them out) and on the local engine: the OP sees each item at the same path.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from dflow import (
    DAG,
    InputParameter,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Task,
    Workflow,
    upload_artifact,
)
from dflow.expressions import evaluate, render
from dflow.python import PythonOPTemplate, Slices

pytest.importorskip("dflow_engine_argo.render")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins" / "engine_argo" / "tests" / "render"))
sys.path.insert(0, str(Path(__file__).parent))
from dflow_engine_argo.render import ArgoRenderer  # noqa: E402
from parity_ops import where_is  # noqa: E402
from sandbox import place_packages, place_raw_artifacts, run_template, template  # noqa: E402


@pytest.fixture
def local(tmp_path, monkeypatch):
    from dflow.config import config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(config, "mode", "local")
    monkeypatch.setitem(config, "debug_workdir", str(tmp_path))
    return tmp_path


def argo_starts(depends: str, phases: dict[str, str]) -> bool:
    """Whether Argo starts a task with ``depends``, given its dependencies' phases."""
    scope = {}
    for name, phase in phases.items():
        scope[name.replace("-", "_")] = {
            "Succeeded": phase == "Succeeded",
            "Failed": phase == "Failed",
            "Errored": phase == "Error",
            "Skipped": phase == "Skipped",
            "Omitted": phase == "Omitted",
            "Daemoned": False,
        }
    return evaluate(depends.replace("-", "_"), scope) is True


def _echo(script="echo {{inputs.parameters.x}} > /tmp/y"):
    t = ShellOPTemplate(name="echo", image="alpine:3", script=script)
    t.inputs.parameters = {"x": InputParameter(value="0")}
    t.outputs.parameters = {"y": OutputParameter(value_from_path="/tmp/y", default="none")}
    return t


def _skipped_chain():
    a = Task("a", _echo(), when="1 > 2")
    b = Task("b", _echo(), parameters={"x": a.outputs.parameters["y"]})
    return [a, b, Task("c", _echo(), dependencies=[b]), Task("d", _echo())]


def _continued_failure():
    f = Task("f", _echo("exit 3"), continue_on_failed=True)
    return [f, Task("g", _echo(), dependencies=[f])]


def _error(**cont):
    t0 = Task("t0", _echo(), parameters={"x": "not-a-list"})
    h = Task(
        "h", _echo(), parameters={"x": "{{item}}"}, with_param=t0.outputs.parameters["y"], **cont
    )
    return [t0, h, Task("i", _echo(), dependencies=[h])]


def _empty_loop():
    e = Task("e", _echo(), parameters={"x": "{{item}}"}, with_param=[])
    return [e, Task("f", _echo(), dependencies=[e])]


# case -> (tasks, workflow phase, phases Argo's controller gives the tasks that did not simply
# succeed: dag.go executeDAGTask marks a `when` false and a loop without items Skipped and a
# task whose depends does not hold Omitted; assessDAGPhase fails the DAG on an Error that is
# not continued)
CASES = {
    "skipped": (_skipped_chain, "Succeeded", {"a": "Skipped", "b": "Omitted", "c": "Omitted"}),
    "continued-failure": (_continued_failure, "Succeeded", {"f": "Failed"}),
    "error-on-failed": (
        lambda: _error(continue_on_failed=True),
        "Error",
        {"h": "Error", "i": "Omitted"},
    ),
    "error-on-error": (lambda: _error(continue_on_error=True), "Succeeded", {"h": "Error"}),
    "empty-loop": (_empty_loop, "Succeeded", {"e": "Skipped", "f": "Omitted"}),
}


def test_dag_tasks_run_where_argo_would_start_them(local):
    disagreements = []
    for case, (build, status, argo_phases) in CASES.items():
        dag = DAG("d")
        dag.add(build())
        wf = Workflow(f"parity-{case}", dag=dag)
        manifest = ArgoRenderer().manifest(wf)
        rendered = next(t for t in manifest["spec"]["templates"] if t["name"] == "d")
        wf.submit()
        if wf.query_status() != status:
            disagreements.append(f"{case}: workflow {wf.query_status()}, expected {status}")
        phases = {
            s.displayName: s.phase
            for s in wf.query_step()
            if s.displayName in {t.name for t in dag.tasks}
        }
        expected = {t.name: argo_phases.get(t.name, "Succeeded") for t in dag.tasks}
        if phases != expected:
            disagreements.append(f"{case}: phases {phases}, Argo's {expected}")
        for entry in rendered["dag"]["tasks"]:
            name = entry["name"]
            if name not in phases:
                continue  # a helper only Argo has (a continued task's sink)
            starts = "depends" not in entry or argo_starts(entry["depends"], phases)
            ran = phases[name] != "Omitted"
            if starts != ran:
                disagreements.append(
                    f"{case}: task {name} {phases[name]} locally; Argo "
                    f"{'starts' if starts else 'omits'} it "
                    f"(depends {entry.get('depends')!r}, phases {phases})"
                )
    assert disagreements == [], "\n".join(disagreements)


def test_loop_items_with_references_are_argo_s(local):
    t0 = Task("t0", _echo(), parameters={"x": 7})
    t1 = Task(
        "t1", _echo(), parameters={"x": "{{item}}"}, with_param=[t0.outputs.parameters["y"], 5]
    )
    dag = DAG("d")
    dag.add([t0, t1])
    wf = Workflow("parity-items", dag=dag)
    manifest = ArgoRenderer().manifest(wf)
    entry = next(
        t
        for t in next(t for t in manifest["spec"]["templates"] if t["name"] == "d")["dag"]["tasks"]
        if t["name"] == "t1"
    )
    wf.submit()
    assert wf.query_status() == "Succeeded"
    y = wf.query_step(name="t0")[0].outputs.parameters["y"].value
    argo_items = json.loads(
        render(entry["withParam"], {"tasks": {"t0": {"outputs": {"parameters": {"y": y}}}}})
    )
    assert argo_items == ["7", 5]
    ran = sorted(
        (s.displayName, s.inputs.parameters["x"].value)
        for s in wf.query_step(name="t1", type="Pod")
    )
    assert ran == [(f"t1({i}:{v})", str(v)) for i, v in enumerate(argo_items)]


def _argo_sub_path_items(manifest, renderer, wf, key, sandbox):
    """Run the rendered helper and each item's pod of the ``names`` step in the sandbox;
    return each item's outputs."""
    from dflow.storage.objects import resolve_client

    store = resolve_client()
    helper = template(manifest, "dflow-slices-path")
    shutil.copytree(store.local_path(f"{key}/.dflow"), sandbox / "helper" / "dflow" / "in" / "file")
    proc = run_template(helper, sandbox / "helper", {})
    assert proc.returncode == 0, proc.stderr
    items = json.loads((sandbox / "helper" / "dflow" / "slices_path").read_text())
    tmpl = template(manifest, "where-is")
    [packages] = renderer.packages_to_upload(wf).values()
    outs = []
    for item in items:
        root = sandbox / f"item{item['order']}"
        place_packages(root, packages)
        target = root / "inputs" / "artifacts" / "file" / item["file"]  # Argo's download
        target.parent.mkdir(parents=True)
        shutil.copy(store.local_path(f"{key}/{item['file']}"), target)
        params = {"dflow_slice_index": str(item["order"]), "dflow_file_sub_path": item["file"]}
        place_raw_artifacts(tmpl, root, params)
        proc = run_template(tmpl, root, params)
        assert proc.returncode == 0, proc.stderr
        outs.append(
            {
                name: json.loads((root / "outputs" / "parameters" / name).read_text())[0][
                    "dflow_list_item"
                ]
                for name in ("name", "text", "where")
            }
        )
    return outs


def test_a_sub_path_item_is_seen_alike(local):
    data = local / "data" / "sub dir"
    data.mkdir(parents=True)
    (local / "data" / "a.txt").write_text("A")
    (data / "b.txt").write_text("B")
    art = upload_artifact(["data/a.txt", "data/sub dir/b.txt"], archive=None)
    wf = Workflow("parity-subpath")
    wf.add(
        Step(
            "names",
            PythonOPTemplate(
                where_is,
                slices=Slices(
                    sub_path=True,
                    input_artifact=["file"],
                    output_parameter=["name", "text", "where"],
                ),
            ),
            artifacts={"file": art},
        )
    )
    renderer = ArgoRenderer(artifact_kind="s3")
    manifest = renderer.manifest(wf)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    group = next(s for s in wf.query_step(name="names") if s.type == "StepGroup")
    ours = [
        dict(zip(("name", "text", "where"), values, strict=True))
        for values in zip(
            *(group.outputs.parameters[k].value for k in ("name", "text", "where")), strict=True
        )
    ]
    argo = _argo_sub_path_items(manifest, renderer, wf, art.key, local / "argo")
    assert (
        ours
        == argo
        == [
            {"name": "a.txt", "text": "A", "where": "file/data/a.txt"},
            {"name": "b.txt", "text": "B", "where": "file/data/sub dir/b.txt"},
        ]
    )

"""After a run, the same graph coloured by phase, from ``query_step()``, on both engines.

``local`` is the local engine; ``argo`` is ArgoEngine -> the stand-in Argo Server -> the
conformance harness's emulated controller and real pods (artifacts on SeaweedFS), as in
tests/test_conformance.py: a test emulation of Argo, not an engine.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from dflow import DAG, InputParameter, ShellOPTemplate, Step, Task, Workflow, argo_range
from dflow.cli.workflows import step_rows
from dflow.graph import build_graph, phases_of
from dflow.graph.phases import collect as phases_of_steps

SVG_NS = "{http://www.w3.org/2000/svg}"

#: path -> (folded phase, counts) that a user sees on either engine
EXPECTED = {
    "": ("Succeeded", {"Succeeded": 1}),
    "square": ("Failed", {"Succeeded": 3, "Failed": 1}),
    "never": ("Skipped", {"Skipped": 1}),
    "one": ("Succeeded", {"Succeeded": 1}),
    "inner": ("Succeeded", {"Succeeded": 1}),
    "inner/t1": ("Succeeded", {"Succeeded": 1}),
    "inner/t2": ("Failed", {"Failed": 1}),
    "onExit": ("Succeeded", {"Succeeded": 1}),
}


def phased_workflow() -> Workflow:
    """square ×4 (item 2 fails, continued), a skipped and a plain step, a DAG with a failure,
    an exit handler."""
    t = ShellOPTemplate(
        name="sq",
        image="alpine:3",
        script='if [ "{{inputs.parameters.x}}" = 2 ]; then echo "item two fails"; exit 1; fi\n'
        "echo done {{inputs.parameters.x}}",
    )
    t.inputs.parameters["x"] = InputParameter()
    dag = DAG("inner-dag")
    t1 = Task("t1", t, parameters={"x": 1})
    dag.add([t1, Task("t2", t, parameters={"x": 2}, dependencies=[t1], continue_on_failed=True)])
    cleanup = ShellOPTemplate(name="cleanup", image="alpine:3", script="echo cleaning up")
    wf = Workflow("phased", on_exit=cleanup)
    wf.add(
        Step(
            "square",
            t,
            parameters={"x": "{{item}}"},
            with_param=argo_range(4),
            continue_on_failed=True,
        )
    )
    wf.add(
        [Step("never", t, parameters={"x": 0}, when="1 > 2"), Step("one", t, parameters={"x": 1})]
    )
    wf.add(Step("inner", dag))
    return wf


@pytest.fixture(params=["local", "argo"])
def engine(request, tmp_path, monkeypatch):
    """Configure dflow for one engine (as tests/test_conformance.py's ``run`` fixture)."""
    from dflow import config, s3_config

    monkeypatch.chdir(tmp_path)
    if request.param == "local":
        monkeypatch.setitem(config, "mode", "debug")
        return "local"
    from argo_server import TOKEN

    server = request.getfixturevalue("emulated_server")
    seaweed = request.getfixturevalue("seaweedfs")
    repo = request.getfixturevalue("argo_repository")
    monkeypatch.setitem(config, "mode", "default")
    monkeypatch.setitem(config, "host", server.url)
    monkeypatch.setitem(config, "token", TOKEN)
    monkeypatch.setitem(config, "k8s_api_server", request.getfixturevalue("emulated_kube").url)
    for key, value in {
        "endpoint": seaweed.endpoint,
        "access_key": seaweed.access_key,
        "secret_key": seaweed.secret_key,
        "secure": False,
        "bucket_name": repo.bucket,
        "prefix": "",
    }.items():
        monkeypatch.setitem(s3_config, key, value)
    return "argo"


def _run(wf: Workflow) -> Workflow:
    wf.submit()
    wf.wait(interval=0.05)
    return wf


def test_phases_per_node_agree_on_both_engines(engine):
    wf = _run(phased_workflow())
    status = phases_of(wf)
    drawn = {n.path for n in build_graph(wf).nodes()}
    got = {"/".join(path): (s.phase, s.counts) for path, s in status.items() if path in drawn}
    assert got == EXPECTED
    assert status[("square",)].summary() == "3 Succeeded, 1 Failed"
    # dflow get's tree folds the fan-out into one row, counted as the pictures count it
    folded = [r for r in step_rows(wf.query_step()) if r[0].strip() == "square (4)"]
    assert [r[2] for r in folded] == ["3 Succeeded, 1 Failed"]
    # the picture: every node coloured, the fan-out still one node with its counts
    root = ET.fromstring(wf.to_svg())
    shown = {
        g.get("data-path"): g.get("data-phase")
        for g in root.iter(f"{SVG_NS}g")
        if g.get("class", "").startswith(("node", "cluster"))
    }
    assert shown == {path: phase for path, (phase, _) in EXPECTED.items()}
    square = next(g for g in root.iter(f"{SVG_NS}g") if g.get("data-path") == "square")
    assert "".join(square.itertext()).count("square ×4") == 1
    assert "3 Succeeded, 1 Failed" in "".join(square.itertext())
    mermaid = wf.to_mermaid()
    assert "classDef Failed fill:#f8d7da" in mermaid and "classDef Skipped" in mermaid
    assert "classDef Failed fill:#f8d7da" not in wf.to_mermaid(phases=False)


def test_dflow_get_and_the_pictures_fold_a_fan_out_alike():
    """One rule: most frequent phase first, in the tree as on the graph's node."""
    items = [
        {
            "id": f"wf-{i}",
            "displayName": f"sq({i}:{i})",
            "type": "Pod",
            "boundaryID": "wf",
            "phase": phase,
        }
        for i, phase in enumerate(["Succeeded", "Failed", "Failed"])
    ]
    steps = [
        {"id": "wf", "displayName": "wf", "type": "Steps", "phase": "Failed"},
        {
            "id": "wf-g",
            "displayName": "[0]",
            "type": "StepGroup",
            "boundaryID": "wf",
            "phase": "Failed",
            "children": [s["id"] for s in items],
        },
        *items,
    ]
    [row] = [r for r in step_rows(steps) if r[0].strip() == "sq (3)"]
    assert row[2] == "2 Failed, 1 Succeeded"
    assert phases_of_steps(steps, "wf")[("sq",)].summary() == row[2]


def test_a_run_known_by_id_is_drawn_from_what_the_engine_reports(engine, capsys):
    wf = _run(phased_workflow())
    handle = Workflow(id=wf.id)
    assert handle.entrypoint is None
    drawn = ET.fromstring(handle.to_svg())
    paths = {
        g.get("data-path"): g.get("data-phase")
        for g in drawn.iter(f"{SVG_NS}g")
        if g.get("class", "").startswith(("node", "cluster"))
    }
    # Argo's manifest adds a helper task beside a DAG task that continues on failure
    extra = {"inner/t2-continue": "Succeeded"} if engine == "argo" else {}
    assert paths == {path: phase for path, (phase, _) in EXPECTED.items()} | extra
    static = {"/".join(n.path): n.label for n in build_graph(wf).nodes()}
    text = "".join(drawn.itertext())
    assert all(label in text for label in static.values() if label != "phased")
    # the Steps groups keep their order: square, then never/one, then inner
    mermaid = handle.to_mermaid()
    # DAG edges come from Argo's node links (t1 -> t2 -> t2-continue); the local engine
    # records none
    assert mermaid.count("-->") == 4 + (2 if engine == "argo" else 0)
    from dflow.cli import main

    capsys.readouterr()
    assert main(["graph", wf.id, "--format", "mermaid"]) == 0
    assert "square ×4<br/>3 Succeeded, 1 Failed" in capsys.readouterr().out


def test_retries_and_hooks_in_a_tree_recorded_from_argo():
    """Argo's own controller test (status-v4.1): a DAG whose tasks retry and have exit
    handlers; a Retry node stands for its attempts, ``X.onExit`` is not an attempt of X."""
    import yaml
    from dflow.graph import collect
    from dflow.graph.runtime import graph_from_steps

    recorded = Path(__file__).parents[1] / "../shared/argo/status-v4.1/exit_handler-0edd1194c3.yaml"
    manifest = yaml.safe_load(recorded.read_text())
    nodes = list(manifest["status"]["nodes"].values())
    wf_id = manifest["metadata"]["name"]
    got = {"/".join(p): (s.phase, s.counts) for p, s in collect(nodes, wf_id).items()}
    assert got == {
        "": ("Running", {"Running": 1}),
        "Execute": ("Running", {"Running": 1}),
        "Execute/Python2Compile": ("Succeeded", {"Succeeded": 1}),
        "Execute/Python2Compile.onExit": ("Succeeded", {"Succeeded": 1}),
        "Execute/DependencyTesting": ("Succeeded", {"Succeeded": 1}),
        "Execute/DependencyTesting.onExit": ("Succeeded", {"Succeeded": 1}),
    }
    execute = graph_from_steps(nodes, wf_id).root.children[0]
    names = {c.id: c.name for c in execute.children}
    assert sorted((names[e.src], names[e.dst]) for e in execute.edges) == [
        ("DependencyTesting", "DependencyTesting.onExit"),
        ("Python2Compile", "DependencyTesting"),
        ("Python2Compile", "Python2Compile.onExit"),
    ]


def test_coloured_mermaid_parses_in_mermaid(tmp_path, monkeypatch):
    from dflow import config

    sys.path.insert(0, str(Path(__file__).parent))
    from test_graph import _run_mermaid

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(config, "mode", "debug")
    wf = _run(phased_workflow())
    rendered = _run_mermaid([wf.to_mermaid(), Workflow(id=wf.id).to_mermaid()], tmp_path)
    for svg in rendered["results"]:
        assert svg.startswith("<svg"), svg
        assert "3 Succeeded, 1 Failed" in svg
        assert re.search(r"fill:#f8d7da", svg)  # the Failed class reached the picture


def test_every_tree_recorded_from_argo_is_placed_and_drawn():
    """Corpus: the status.nodes trees recorded by Argo's controller tests (status-v4.1). Each
    node with a name and a boundary lands on a graph path; each tree draws as SVG (valid XML),
    mermaid and DOT. One fragment has no root node: it gets the clear "no steps" error."""
    import yaml
    from dflow.graph import collect, render
    from dflow.graph.phases import step_paths
    from dflow.graph.runtime import graph_from_steps

    folder = Path(__file__).parents[1] / "../shared/argo/status-v4.1"
    trees, rootless, problems = 0, 0, []
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or not (doc.get("status") or {}).get("nodes"):
                continue
            trees += 1
            nodes = [{"id": k, **v} for k, v in doc["status"]["nodes"].items()]
            wf_id = doc["metadata"]["name"]
            placed = step_paths(nodes, wf_id)
            ids = {n["id"] for n in nodes}
            lost = [
                n.get("displayName")
                for n in nodes
                if n["id"] not in placed
                and n.get("boundaryID") in ids  # (a fragment may lack its boundary node)
                and n.get("type") != "StepGroup"
            ]
            if lost:
                problems.append(f"{path.name}: not placed: {lost}")
            try:
                graph = graph_from_steps(nodes, wf_id)
            except ValueError as exc:
                assert "no steps reported yet" in str(exc)
                rootless += 1
                continue
            status = collect(nodes, wf_id)
            try:
                ET.fromstring(render(graph, "svg", status))
                render(graph, "mermaid", status)
                render(graph, "dot", status)
            except Exception as exc:  # listed, so one run shows every broken tree
                problems.append(f"{path.name}: {exc!r}")
    assert (trees, rootless, problems) == (92, 1, [])

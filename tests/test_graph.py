"""Pictures of a workflow before it runs: ``to_mermaid()``, ``to_dot()``, ``to_svg()``.

Each format is checked by something we did not write where one exists here: mermaid text by
mermaid's own parser and renderer (the npm package, run in headless Chromium from Debian's
packages), DOT by Graphviz's ``dot`` (Debian's graphviz), SVG by an XML parser plus geometric
checks of our layout (children inside their cluster, no overlaps, groups in order).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from dflow import (
    DAG,
    InputParameter,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Steps,
    Task,
    Workflow,
    argo_range,
    argo_sequence,
)
from dflow.graph import build_graph
from dflow.testing import browser

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".work"
SVG_NS = "{http://www.w3.org/2000/svg}"


def echo(name: str = "echo") -> ShellOPTemplate:
    t = ShellOPTemplate(name=name, image="alpine:3", script="echo {{inputs.parameters.x}} > /tmp/y")
    t.inputs.parameters["x"] = InputParameter(value=0)
    t.outputs.parameters["y"] = OutputParameter(value_from_path="/tmp/y")
    return t


def nested_workflow(condition: str | None = None) -> Workflow:
    """Steps [outer: Steps [a] [b ×1000, c if a.y > 3]] [dd: DAG t1 -> t2 ×N, t1 -> t3 ×5, z]."""
    t = echo()
    inner = Steps("inner")
    inner.inputs.parameters["n"] = InputParameter(value=3)
    a = Step("a", t, parameters={"x": 1})
    inner.add(a)
    when = condition or f"{a.outputs.parameters['y']} > 3"
    inner.add(
        [
            Step("b", t, parameters={"x": "{{item}}"}, with_param=argo_range(1000)),
            Step("c", t, parameters={"x": 2}, when=when),
        ]
    )
    d = DAG("d")
    d.inputs.parameters["n"] = InputParameter(value=4)
    t1 = Task("t1", t, parameters={"x": 1})
    t2 = Task(
        "t2",
        t,
        parameters={"x": t1.outputs.parameters["y"]},
        with_param=argo_range(d.inputs.parameters["n"]),
    )
    t3 = Task("t3", t, with_sequence=argo_sequence(count=5), dependencies=[t1])
    d.add([t1, t2, t3])
    wf = Workflow("nested")
    wf.add(Step("outer", inner))
    wf.add([Step("dd", d), Step("z", t, parameters={"x": 5})])
    return wf


def parallel_workflow() -> Workflow:
    """Two groups of three parallel steps: they meet at one join point."""
    t = echo()
    wf = Workflow("parallel")
    wf.add([Step(f"a{i}", t) for i in range(3)])
    wf.add(
        [
            Step(f"b{i}", t, when="{{workflow.parameters.go}} == yes" if i == 2 else None)
            for i in range(3)
        ]
    )
    return wf


# -- the model ------------------------------------------------------------------------------


def test_graph_folds_fanouts_nests_templates_and_keeps_order():
    graph = build_graph(nested_workflow())
    by_path = {n.path: n for n in graph.nodes()}
    assert sorted("/".join(p) for p in by_path) == [
        "",
        "dd",
        "dd/t1",
        "dd/t2",
        "dd/t3",
        "outer",
        "outer/a",
        "outer/b",
        "outer/c",
        "z",
    ]
    assert by_path[("outer",)].kind == "steps" and by_path[("dd",)].kind == "dag"
    assert by_path[("outer", "b")].label == "b ×1000"
    assert by_path[("dd", "t2")].label == "t2 ×N"  # the count comes from a parameter
    assert by_path[("dd", "t3")].label == "t3 ×5"
    assert by_path[("outer", "c")].when == "a.y > 3"

    def edges(path):
        node = by_path[path]
        names = {c.id: c.name for c in node.children}
        return sorted((names[e.src], names[e.dst], e.label) for e in node.edges)

    assert edges(()) == [("outer", "dd", None), ("outer", "z", None)]  # dd, z side by side
    assert edges(("outer",)) == [("a", "b", None), ("a", "c", "a.y > 3")]
    assert edges(("dd",)) == [("t1", "t2", None), ("t1", "t3", None)]


def test_two_parallel_groups_meet_at_a_join_point():
    graph = build_graph(parallel_workflow())
    names = {c.id: c.name or c.kind for c in graph.root.children}
    assert sorted((names[e.src], names[e.dst], e.label) for e in graph.root.edges) == [
        ("a0", "join", None),
        ("a1", "join", None),
        ("a2", "join", None),
        ("join", "b0", None),
        ("join", "b1", None),
        ("join", "b2", "workflow.go == yes"),
    ]
    boxes = _boxes(parallel_workflow().to_svg())
    circle = ET.fromstring(parallel_workflow().to_svg()).find(f".//{SVG_NS}circle[@class='join']")
    cy = float(circle.get("cy"))
    assert all(boxes[f"a{i}"][1] + boxes[f"a{i}"][3] < cy < boxes[f"b{i}"][1] for i in range(3))


def test_recursive_template_is_drawn_once_with_a_marker():
    t = echo()
    loop = Steps("loop")
    loop.inputs.parameters["i"] = InputParameter(value=0)
    loop.add(Step("add", t, parameters={"x": loop.inputs.parameters["i"]}))
    loop.add(Step("next", loop, parameters={"i": 1}, when="{{inputs.parameters.i}} < 3"))
    wf = Workflow("recurse", steps=loop)
    kinds = {"/".join(n.path): n.kind for n in build_graph(wf).nodes()}
    assert kinds == {"": "steps", "add": "op", "next": "recursion"}
    assert "↻ next" in wf.to_svg()
    assert 'n3[["↻ next"]]' in wf.to_mermaid()  # a subroutine shape


def test_a_workflow_without_steps_says_so():
    with pytest.raises(ValueError, match="workflow 'empty' has no steps: add some to draw it"):
        Workflow("empty").to_svg()


def test_a_ten_thousand_slice_fanout_is_one_node():
    from dflow.python import Slices

    t = echo()
    wf = Workflow("wide")
    wf.add(Step("square", t, parameters={"x": "{{item}}"}, with_param=argo_range(10_000)))
    wf.add(
        Step(
            "sliced", t, parameters={"x": list(range(10_000))}, slices=Slices(input_parameter=["x"])
        )
    )
    svg = wf.to_svg()
    root = ET.fromstring(svg)
    labels = [
        "".join(g.itertext()).strip()
        for g in root.iter(f"{SVG_NS}g")
        if "node" in g.get("class", "")
    ]
    assert len(labels) == 2
    assert "square ×10000" in labels[0] and "sliced ×10000" in labels[1]
    assert len(svg) < 5000


def test_steps_and_dag_templates_draw_themselves():
    wf = nested_workflow()
    inner = wf.entrypoint.steps[0][0].template
    dag = wf.entrypoint.steps[1][0].template
    assert inner.to_mermaid().count("-->") == 2
    assert dag.to_dot().count("->") == 2
    ET.fromstring(dag.to_svg())


# -- mermaid --------------------------------------------------------------------------------


def _mermaid_shape(text: str) -> dict:
    """Counts by a structural reading of our mermaid: nodes, subgraphs, edges, labels."""
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "flowchart TB"
    subgraphs = [line for line in lines if line.startswith("subgraph ")]
    assert len(subgraphs) == lines.count("end")
    nodes = [line for line in lines if re.match(r"^n\d+\[", line)]
    edges = [line for line in lines if re.match(r"^n\d+ -(->|\.->)", line)]
    return {"subgraphs": len(subgraphs), "nodes": len(nodes), "edges": len(edges), "text": text}


def test_mermaid_structure():
    shape = _mermaid_shape(nested_workflow().to_mermaid())
    assert (shape["subgraphs"], shape["nodes"], shape["edges"]) == (3, 7, 6)
    text = shape["text"]
    assert 'n4["b ×1000"]' in text
    assert 'n3 -->|"a.y &gt; 3"| n5' in text  # the condition rides on the edge into c


def _run_mermaid(texts: list[str], tmp_path: Path) -> dict:
    """Parse and render each text with mermaid itself in headless Chromium."""
    try:
        js = browser.mermaid_js(WORK / "npm")
        browser.chromium()
    except browser.BrowserUnavailable as exc:
        pytest.skip(f"cannot check with mermaid here: {exc}")
    page = tmp_path / "mermaid.html"
    page.write_text(
        f"""<!DOCTYPE html><html><body><pre id="out">pending</pre>
<script src="{js.as_uri()}"></script>
<script>
mermaid.initialize({{startOnLoad: false, securityLevel: "strict"}});
const texts = {json.dumps(texts)};
(async function () {{
  const out = [];
  for (let i = 0; i < texts.length; i++) {{
    try {{
      await mermaid.parse(texts[i]);
      const r = await mermaid.render("g" + i, texts[i]);
      out.push(r.svg);
    }} catch (e) {{ out.push("error: " + e.message); }}
  }}
  document.getElementById("out").textContent = JSON.stringify(out);
}})();
</script></body></html>"""
    )
    shown = browser.load(page, wait_ms=8000)
    found = re.search(r'<pre id="out">(.*?)</pre>', shown.dom, re.S)
    assert found and found.group(1) != "pending", shown.console
    import html

    return {"results": json.loads(html.unescape(found.group(1))), "console": shown.console}


def test_mermaid_output_parses_and_renders_in_mermaid(tmp_path):
    hostile = nested_workflow(condition='"<script>alert(1)</script>" == "{{inputs.parameters.n}}"')
    texts = [
        nested_workflow().to_mermaid(),
        hostile.to_mermaid(),
        "flowchart TB\n  n1 --> \n",
        parallel_workflow().to_mermaid(),
    ]
    got = _run_mermaid(texts, tmp_path)
    ok, hostile_svg, broken, parallel = got["results"]
    assert parallel.startswith("<svg") and "workflow.go == yes" in parallel
    assert ok.startswith("<svg") and "b ×1000" in ok and "a.y &gt; 3" in ok
    assert hostile_svg.startswith("<svg") and "<script" not in hostile_svg
    assert broken.startswith("error: Parse error")  # the check can fail


# -- DOT ------------------------------------------------------------------------------------


def test_dot_output_is_read_by_graphviz(tmp_path):
    try:
        dot = browser.debian_tool("dot", "graphviz")
    except browser.BrowserUnavailable as exc:
        pytest.skip(f"cannot check with Graphviz here: {exc}")
    text = nested_workflow().to_dot()
    done = subprocess.run([dot, "-Tsvg"], input=text, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no warnings (a bad lhead/ltail would warn)
    svg = ET.fromstring(done.stdout)
    classes = [g.get("class") for g in svg.iter(f"{SVG_NS}g")]
    assert (classes.count("cluster"), classes.count("node"), classes.count("edge")) == (3, 7, 6)
    assert "b ×1000" in done.stdout and "a.y &gt; 3" in done.stdout
    done = subprocess.run(
        [dot, "-Tsvg"], input=parallel_workflow().to_dot(), capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    classes = [g.get("class") for g in ET.fromstring(done.stdout).iter(f"{SVG_NS}g")]
    assert (classes.count("node"), classes.count("edge")) == (7, 6)  # 6 steps + the join
    bad = subprocess.run([dot, "-Tsvg"], input=text[:-3], capture_output=True, text=True)
    assert bad.returncode != 0  # the check can fail


# -- SVG ------------------------------------------------------------------------------------


def _boxes(svg_text: str) -> dict[str, tuple[float, float, float, float, str]]:
    """data-path -> (x, y, w, h, class) of every node and cluster."""
    root = ET.fromstring(svg_text)
    out = {}
    for g in root.iter(f"{SVG_NS}g"):
        cls = g.get("class", "")
        if cls.startswith(("node", "cluster")):
            r = g.find(f"{SVG_NS}rect")
            out[g.get("data-path")] = (
                *(float(r.get(k)) for k in ("x", "y", "width", "height")),
                cls,
            )
    return out


def test_svg_layout_nests_clusters_and_orders_groups():
    svg_text = nested_workflow().to_svg()
    boxes = _boxes(svg_text)
    assert len(boxes) == 10
    assert sum(c.startswith("cluster") for *_, c in boxes.values()) == 3
    assert len(ET.fromstring(svg_text).findall(f".//{SVG_NS}path[@class='edge']")) == 6

    def inside(inner, outer):
        x, y, w, h, _ = boxes[inner]
        X, Y, W, H, _ = boxes[outer]
        return X <= x and Y <= y and x + w <= X + W and y + h <= Y + H

    for path in boxes:
        if path:
            assert inside(path, path.rpartition("/")[0]), path
    siblings: dict[str, list[str]] = {}
    for path in boxes:
        if path:
            siblings.setdefault(path.rpartition("/")[0], []).append(path)
    for group in siblings.values():
        for i, p in enumerate(group):
            for q in group[i + 1 :]:
                x, y, w, h, _ = boxes[p]
                X, Y, W, H, _ = boxes[q]
                assert x + w <= X or X + W <= x or y + h <= Y or Y + H <= y, (p, q)

    def below(after, before):
        return boxes[after][1] >= boxes[before][1] + boxes[before][3]

    assert below("outer/b", "outer/a") and below("outer/c", "outer/a")
    assert below("dd", "outer") and below("z", "outer")
    assert below("dd/t2", "dd/t1") and below("dd/t3", "dd/t1")
    assert boxes["dd"][1] == boxes["z"][1] or abs(boxes["dd"][1] - boxes["z"][1]) < boxes["dd"][3]


def test_svg_escapes_what_the_user_wrote():
    wf = nested_workflow(condition='"<script>alert(1)</script>" == "{{inputs.parameters.n}}"')
    svg_text = wf.to_svg()
    root = ET.fromstring(svg_text)  # still well-formed XML
    assert "<script" not in svg_text
    assert any("<script>alert(1)</script>" in (t.text or "") for t in root.iter(f"{SVG_NS}text"))


# -- dflow graph script.py ------------------------------------------------------------------

SCRIPT = """
from pathlib import Path
from dflow import ShellOPTemplate, Step, Workflow, argo_range

t = ShellOPTemplate(name="sq", image="alpine:3", script="echo")
{workflows}
if __name__ == "__main__":
    Path("submitted.txt").write_text("ran as main")
"""


def _dflow(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dflow", *args], cwd=cwd, capture_output=True, text=True
    )


def test_dflow_graph_draws_the_workflow_a_script_builds(tmp_path):
    (tmp_path / "one.py").write_text(
        SCRIPT.format(
            workflows='wf = Workflow("fan")\n'
            'wf.add(Step("square", t, with_param=argo_range(1000)))\n'
        )
    )
    done = _dflow("graph", "one.py", "--format", "svg", "-o", "one.svg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "submitted.txt").exists()  # imported, not run as __main__
    assert "square ×1000" in (tmp_path / "one.svg").read_text()
    done = _dflow("graph", "one.py", cwd=tmp_path)
    assert done.stdout.startswith("flowchart TB") and "square ×1000" in done.stdout
    done = _dflow("graph", "one.py", "--format", "html", "-o", "one.html", cwd=tmp_path)
    page = (tmp_path / "one.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page


def test_dflow_graph_says_which_workflow_to_pick(tmp_path):
    (tmp_path / "two.py").write_text(
        SCRIPT.format(
            workflows='w1 = Workflow("first")\nw1.add(Step("a", t))\n'
            'w2 = Workflow("second")\nw2.add(Step("b", t))\n'
        )
    )
    done = _dflow("graph", "two.py", cwd=tmp_path)
    assert done.returncode != 0
    assert "two.py builds 2 workflows (first, second): choose one with --workflow NAME" in (
        done.stderr
    )
    done = _dflow("graph", "two.py", "--workflow", "second", "-f", "dot", cwd=tmp_path)
    assert done.returncode == 0 and 'label="b"' in done.stdout
    (tmp_path / "none.py").write_text(SCRIPT.format(workflows=""))
    done = _dflow("graph", "none.py", cwd=tmp_path)
    assert "none.py leaves no Workflow in a module-level variable" in done.stderr

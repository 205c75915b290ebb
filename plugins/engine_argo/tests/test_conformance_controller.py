"""The emulated Argo controller (conformance/) against Argo's own recorded node trees and rules.

Pods run for real (conformance.pod: a private mount namespace, ``sh`` of the machine for
``alpine``/``busybox`` images, artifacts on the session's SeaweedFS). The recorded trees are
``status.nodes`` of Argo's controller tests (``../shared/argo/status-v4.1``); the other tests
each pin one rule of the cited Argo source.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import yaml
from argo_schema import ARGO_DATA
from conformance.nodes import fnv32a, node_id, pod_name
from conformance.retry import formulate_retry

RECORDED = ARGO_DATA / "status-v4.1"
# finished workflows of sh/echo containers (no http templates, no images with their own tools);
# left out: util-bd0e774a2f (hand-written node ids), dag-067ab3b4e4 (recorded mid-pass: the
# workflow Succeeded while its DAG node is still Running without outputs)
RERUN = (
    "util-44694aaa2c",
    "util-5477a6e989",
    "util-5a4db728cd",
    "util-6138b7cb02",
    "util-653d3180bf",
    "util-d37328aa18",
    "util-fefcbef7ad",
)
COMPARED = (
    "name",
    "displayName",
    "type",
    "phase",
    "boundaryID",
    "children",
    "outboundNodes",
    "templateName",
    "templateScope",
    "message",
    "inputs",
    "outputs",
)


def recorded(name: str) -> dict:
    docs = yaml.safe_load_all((RECORDED / f"{name}.yaml").read_text())
    return next(d for d in docs if isinstance(d, dict) and d.get("kind") == "Workflow")


def y(text: str) -> dict:
    return yaml.safe_load(text)


def nodes_by_name(wf: dict) -> dict[str, dict]:
    return {n["name"]: n for n in wf["status"]["nodes"].values()}


def _differences(want: dict, got: dict) -> list[str]:
    out = []
    exp, has = want["status"]["nodes"], got["status"]["nodes"]
    if want["status"]["phase"] != got["status"]["phase"]:
        out.append(f"workflow phase {want['status']['phase']} != {got['status']['phase']}")
    for nid in sorted(set(exp) | set(has)):
        e, g = exp.get(nid), has.get(nid)
        if e is None or g is None:
            out.append(f"{nid} ({(e or g)['name']}) only {'got' if e is None else 'recorded'}")
            continue
        for key in COMPARED:
            ev, gv = e.get(key), g.get(key)
            if key in ("children", "outboundNodes"):
                ev, gv = sorted(ev or []), sorted(gv or [])
            if key == "message" and e["type"] == "Pod":
                continue  # the kubelet's/executor's text; recorded by hand in these fixtures
            if key == "templateName" and e["type"] == "StepGroup":
                continue  # older controllers named the template on StepGroups
            if key in ("inputs", "outputs"):
                if e["type"] != "Pod":
                    continue  # fixtures leave them off Retry/TaskGroup nodes
                ev, gv = _params(ev), _params(gv)
            if ev != gv:
                out.append(f"{e['name']}: {key} recorded {ev!r}, got {gv!r}")
    return out


def _params(io: dict | None) -> dict:
    io = io or {}
    out = {p["name"]: p.get("value") for p in io.get("parameters") or []}
    if io.get("exitCode") is not None:
        out["exitCode"] = io["exitCode"]
    return out


def test_recorded_trees_rerun_to_the_same_nodes(emulated_argo):
    """Finished workflows of Argo's controller tests, run again: same node tree."""
    failures = {}
    for name in RERUN:
        want = recorded(name)
        manifest = {
            "metadata": {"name": want["metadata"]["name"]},
            "spec": json.loads(json.dumps(want["spec"])),
        }
        got = emulated_argo.run(manifest)
        diff = _differences(want, got)
        if diff:
            failures[name] = diff
    assert failures == {}, "\n".join(f"{k}: {d}" for k, v in failures.items() for d in v)
    assert len(RERUN) == 7


# fixtures whose node ids were written by hand (1234567890, "G0")
HAND_WRITTEN = {"dag-734113c6d9", "operator-0367318efc", "operator-cbea114ad8", "util-bd0e774a2f"}


def test_recorded_node_ids_and_display_names():
    """Every node of every recorded tree: id = NodeID(name), displayName from its boundary."""
    trees, checked, failures = 0, 0, []
    for path in sorted(RECORDED.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "Workflow":
                continue
            wf, nodes = doc["metadata"]["name"], (doc.get("status") or {}).get("nodes") or {}
            if path.stem in HAND_WRITTEN or wf not in {n["name"] for n in nodes.values()}:
                continue  # ... or renamed: no node carries the workflow's name
            trees += 1
            for nid, node in nodes.items():
                checked += 1
                if nid != node_id(wf, node["name"]):
                    failures.append(f"{path.name}: {node['name']} has id {nid}")
                boundary = nodes.get(node.get("boundaryID") or "")
                if boundary is not None and "displayName" in node:
                    rest = node["name"][len(boundary["name"]) :]
                    want = re.sub(r"^(\[\d+\])?\.", "", rest, count=1)
                    if node["displayName"] != want:
                        failures.append(
                            f"{path.name}: {node['name']} displayed "
                            f"{node['displayName']!r}, rule gives {want!r}"
                        )
    assert failures == []
    assert (trees, checked) == (83, 390)


def test_pod_names_v2_and_fnv():
    # pod names of Argo's docs (workflow/util/pod_name_test.go, v3.7.18)
    assert fnv32a("") == 2166136261
    assert pod_name("wf", "wf", "tmpl") == "wf"
    assert pod_name("wf", "wf[0].step", "tmpl") == f"wf-tmpl-{fnv32a('wf[0].step')}"
    assert pod_name("wf", "wf.a", "") == f"wf-{fnv32a('wf.a')}"


STEPS = """
metadata: {name: steps-x}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: a, template: echo, arguments: {parameters: [{name: v, value: one}]}}
      - {name: b, template: echo, arguments: {parameters: [{name: v, value: two}]}}
    - - name: c
        template: echo
        arguments:
          parameters: [{name: v, value: "{{steps.a.outputs.parameters.out}}+{{steps.b.outputs.parameters.out}}"}]
    outputs:
      parameters:
      - {name: joined, globalName: joined, valueFrom: {parameter: "{{steps.c.outputs.parameters.out}}"}}
  - name: echo
    inputs: {parameters: [{name: v}]}
    container:
      image: alpine:3
      command: [sh, -c]
      args: ["printf '%s' '{{inputs.parameters.v}}' > /tmp/out"]
    outputs:
      parameters: [{name: out, valueFrom: {path: /tmp/out}}]
"""


def test_steps_tree_outputs_and_global_outputs(emulated_argo):
    wf = emulated_argo.run(y(STEPS))
    assert wf["status"]["phase"] == "Succeeded"
    n = nodes_by_name(wf)
    assert (
        n["steps-x.c" if False else "steps-x[1].c"]["outputs"]["parameters"][0]["value"]
        == "one+two"
    )
    root, sg0, sg1 = n["steps-x"], n["steps-x[0]"], n["steps-x[1]"]
    a, b, c = n["steps-x[0].a"], n["steps-x[0].b"], n["steps-x[1].c"]
    assert (root["type"], sg0["type"], a["type"]) == ("Steps", "StepGroup", "Pod")
    assert root["children"] == [sg0["id"]] and sorted(sg0["children"]) == sorted([a["id"], b["id"]])
    # operator.go: the next group hangs from the outbound nodes of the previous one
    assert a["children"] == [sg1["id"]] and b["children"] == [sg1["id"]]
    assert root["outboundNodes"] == [c["id"]]
    assert (a["displayName"], sg1["displayName"], a["boundaryID"]) == ("a", "[1]", root["id"])
    assert root["outputs"]["parameters"] == [
        {"name": "joined", "globalName": "joined", "value": "one+two"}
    ]
    assert wf["status"]["outputs"]["parameters"] == [{"name": "joined", "value": "one+two"}]
    assert wf["status"]["progress"] == "3/3" and root["progress"] == "3/3"
    assert c["inputs"]["parameters"] == [{"name": "v", "value": "one+two"}]


LOOPS = """
metadata: {name: loops}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: gen, template: gen}
    - - name: sq
        template: sq
        arguments: {parameters: [{name: x, value: "{{item}}"}]}
        withParam: "{{steps.gen.outputs.result}}"
      - name: map
        template: sq
        arguments: {parameters: [{name: x, value: "{{item.n}}"}]}
        withItems: [{n: 5, s: "a(b)"}]
      - name: seq
        template: sq
        arguments: {parameters: [{name: x, value: "{{item}}"}]}
        withSequence: {count: "2", start: "7", format: "%02d"}
      - name: many
        template: sq
        arguments: {parameters: [{name: x, value: "{{item}}"}]}
        withSequence: {count: "12"}
      - name: none
        template: sq
        arguments: {parameters: [{name: x, value: "{{item}}"}]}
        withParam: "[]"
    - - name: total
        template: sum
        arguments: {parameters: [{name: xs, value: "{{steps.sq.outputs.parameters.y}}"}]}
      - name: ordered
        template: sum
        arguments: {parameters: [{name: xs, value: "{{steps.many.outputs.parameters.y}}"}]}
  - name: gen
    script: {image: alpine:3, command: [sh], source: "echo '[1, 2.50, 3]'"}
  - name: sq
    inputs: {parameters: [{name: x}]}
    container: {image: alpine:3, command: [sh, -c], args: ["echo {{inputs.parameters.x}}x > /tmp/y"]}
    outputs: {parameters: [{name: y, valueFrom: {path: /tmp/y}}]}
  - name: sum
    inputs: {parameters: [{name: xs}]}
    container: {image: alpine:3, command: [sh, -c], args: ["printf '%s' '{{inputs.parameters.xs}}' > /tmp/o"]}
    outputs: {parameters: [{name: o, valueFrom: {path: /tmp/o}}]}
"""


def test_loops_names_aggregates_and_empty_lists(emulated_argo):
    wf = emulated_argo.run(y(LOOPS))
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    n = nodes_by_name(wf)
    # generateNodeName/processItem (operator.go): numbers as written, maps as sorted k:v
    # without parentheses, sequences formatted
    for name in (
        "loops[1].sq(0:1)",
        "loops[1].sq(1:2.50)",
        "loops[1].sq(2:3)",
        "loops[1].map(0:n:5,s:ab)",
        "loops[1].seq(0:07)",
        "loops[1].seq(1:08)",
    ):
        assert n[name]["type"] == "Pod" and n[name]["phase"] == "Succeeded", name
    assert n["loops[1].sq(1:2.50)"]["inputs"]["parameters"][0]["value"] == "2.50"
    empty = n["loops[1].none"]
    assert (empty["type"], empty["phase"], empty["message"]) == (
        "Skipped",
        "Skipped",
        "Skipped, empty params",
    )
    # processAggregateNodeOutputs: a JSON list in loop order (the executor trims one "\n")
    total = n["loops[2].total"]
    assert total["outputs"]["parameters"][0]["value"] == '["1x","2.50x","3x"]'
    ordered = json.loads(n["loops[2].ordered"]["outputs"]["parameters"][0]["value"])
    assert ordered == [f"{i}x" for i in range(12)]  # by loop index: 10 after 9, not after 1


CONDITIONS = """
metadata: {name: cond}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: flip, template: flip}
    - - {name: heads, template: ok, when: "{{steps.flip.outputs.result}} == heads"}
      - {name: tails, template: ok, when: "{{steps.flip.outputs.result}} == tails"}
      - {name: bad, template: fail, continueOn: {failed: true}}
    - - {name: after, template: ok}
  - name: flip
    script: {image: alpine:3, command: [sh], source: "echo heads"}
  - name: ok
    container: {image: alpine:3, command: [sh, -c], args: ["true"]}
  - name: fail
    container: {image: alpine:3, command: [sh, -c], args: ["exit 3"]}
"""


def test_when_skips_and_continue_on_failed(emulated_argo):
    wf = emulated_argo.run(y(CONDITIONS))
    n = nodes_by_name(wf)
    assert wf["status"]["phase"] == "Succeeded"
    tails = n["cond[1].tails"]
    assert (tails["type"], tails["phase"], tails["message"]) == (
        "Skipped",
        "Skipped",
        "when 'heads == tails' evaluated false",
    )
    assert n["cond[1].heads"]["phase"] == "Succeeded"
    bad = n["cond[1].bad"]
    assert bad["phase"] == "Failed" and bad["outputs"]["exitCode"] == "3"
    assert n["cond[1]"]["phase"] == "Succeeded" and n["cond[2].after"]["phase"] == "Succeeded"


DAG = """
metadata: {name: dag}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: A, template: fail}
      - {name: B, template: ok, depends: "A.Failed"}
      - {name: C, template: ok, depends: "A"}
      - {name: D, template: ok, depends: "B || C"}
      - {name: E, template: ok, depends: "!A.Succeeded && B.Succeeded"}
      - {name: F, template: ok, dependencies: [A]}
      - {name: G, template: ok, when: "false"}
      - {name: H, template: ok, dependencies: [G]}
  - name: ok
    container: {image: alpine:3, command: [sh, -c], args: ["true"]}
  - name: fail
    container: {image: alpine:3, command: [sh, -c], args: ["exit 1"]}
"""


def test_dag_enhanced_depends(emulated_argo):
    wf = emulated_argo.run(y(DAG))
    n = nodes_by_name(wf)
    phases = {k.split(".")[-1]: v["phase"] for k, v in n.items() if "." in k}
    # dependencies: [G] means G.Succeeded || G.Skipped || G.Daemoned (ancestry.go)
    assert phases == {
        "A": "Failed",
        "B": "Succeeded",
        "C": "Omitted",
        "D": "Succeeded",
        "E": "Succeeded",
        "F": "Omitted",
        "G": "Skipped",
        "H": "Succeeded",
    }
    assert n["dag.C"]["message"] == "omitted: depends condition not met"
    assert n["dag.C"]["type"] == "Skipped"
    # assessDAGPhase: an omitted leaf inherits its branch's phase (A failed): the DAG fails
    assert wf["status"]["phase"] == "Failed" and n["dag"]["phase"] == "Failed"
    assert sorted(n["dag"]["children"]) == sorted([n["dag.A"]["id"], n["dag.G"]["id"]])
    assert n["dag.G"]["children"] == [n["dag.H"]["id"]]
    # a task hangs from the outbound nodes of every task its depends names
    assert sorted(n["dag.A"]["children"]) == sorted(n[f"dag.{t}"]["id"] for t in "BCEF")
    assert sorted(n["dag.B"]["children"]) == sorted(n[f"dag.{t}"]["id"] for t in "DE")


RETRIES = """
metadata: {name: retries}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: flaky, template: flaky}
      - {name: stop, template: stop}
      - {name: never, template: never}
  - name: flaky
    retryStrategy: {limit: 4, retryPolicy: Always, backoff: {duration: "1", factor: "1"}}
    container:
      image: alpine:3
      command: [sh, -c]
      args: ["test {{retries}} -ge 2 || exit 5; echo {{retries}} > /tmp/n"]
    outputs: {parameters: [{name: n, valueFrom: {path: /tmp/n}}]}
  - name: never
    retryStrategy: {limit: "2"}
    container: {image: alpine:3, command: [sh, -c], args: ["exit 1"]}
  - name: stop
    retryStrategy: {limit: 5, expression: "asInt(lastRetry.exitCode) == 9"}
    container: {image: alpine:3, command: [sh, -c], args: ["exit $(( {{retries}} == 0 ? 9 : 7 ))"]}
"""


def test_retry_nodes_attempts_and_expression(emulated_argo):
    wf = emulated_argo.run(y(RETRIES))
    n = nodes_by_name(wf)
    flaky = n["retries[0].flaky"]
    assert flaky["type"] == "Retry" and flaky["phase"] == "Succeeded"
    attempts = [n[f"retries[0].flaky({i})"] for i in range(3)]
    assert [a["phase"] for a in attempts] == ["Failed", "Failed", "Succeeded"]
    assert flaky["children"] == [a["id"] for a in attempts]
    assert attempts[0]["nodeFlag"] == {"retried": True} and "nodeFlag" not in flaky
    assert flaky["outputs"]["parameters"][0]["value"] == "2"
    # the expression stops retrying once lastRetry.exitCode is 7
    stop = n["retries[0].stop"]
    assert [n[f"retries[0].stop({i})"]["outputs"]["exitCode"] for i in range(2)] == ["9", "7"]
    assert "retries[0].stop(2)" not in n
    # limit 2: the first run and two retries, then "No more retries left"
    never = n["retries[0].never"]
    assert len(never["children"]) == 3 and "retries[0].never(3)" not in n
    assert (never["phase"], never["message"]) == ("Failed", "No more retries left")
    assert (stop["phase"], stop["message"]) == (
        "Failed",
        "retryStrategy.expression evaluated to false",
    )
    assert wf["status"]["phase"] == "Failed"
    # the step group fails on its failed child; the workflow takes its message
    assert wf["status"]["message"] in (
        f"child '{stop['id']}' failed",
        f"child '{never['id']}' failed",
    )


EXIT = """
metadata: {name: exits}
spec:
  entrypoint: main
  onExit: report
  templates:
  - name: main
    steps:
    - - {name: boom, template: boom}
  - name: boom
    container: {image: alpine:3, command: [sh, -c], args: ["exit 2"]}
  - name: report
    steps:
    - - name: tell
        template: tell
        arguments:
          parameters:
          - {name: status, value: "{{workflow.status}}"}
          - {name: failures, value: "{{workflow.failures}}"}
  - name: tell
    inputs: {parameters: [{name: status}, {name: failures}]}
    container: {image: alpine:3, command: [sh, -c], args: ["true"]}
"""


def test_on_exit_sees_status_and_failures(emulated_argo):
    wf = emulated_argo.run(y(EXIT))
    n = nodes_by_name(wf)
    exit_node = n["exits.onExit"]
    assert exit_node["type"] == "Steps" and exit_node["nodeFlag"] == {"hooked": True}
    params = {p["name"]: p["value"] for p in n["exits.onExit[0].tell"]["inputs"]["parameters"]}
    assert params["status"] == "Failed"
    # strconv.Quote'd JSON (operator.go): the value keeps its quotes through substitution
    failures = json.loads(json.loads(params["failures"]))
    boom = n["exits[0].boom"]
    assert sorted((f["displayName"], f["phase"], f["podName"]) for f in failures) == [
        ("[0]", "Failed", pod_name("exits", "exits[0]", "")),
        ("boom", "Failed", pod_name("exits", boom["name"], "boom")),
        ("exits", "Failed", "exits"),
    ]
    assert wf["status"]["phase"] == "Failed"


HOOKS = """
metadata: {name: hooked}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: a
        template: ok
        hooks:
          exit: {template: echo, arguments: {parameters: [{name: v, value: "{{steps.a.outputs.parameters.out}}"}]}}
          done: {template: echo, expression: "steps.a.status == 'Succeeded'", arguments: {parameters: [{name: v, value: late}]}}
          never: {template: echo, expression: "steps.a.status == 'Failed'"}
  - name: ok
    container: {image: alpine:3, command: [sh, -c], args: ["echo -n fine > /tmp/out"]}
    outputs: {parameters: [{name: out, valueFrom: {path: /tmp/out}}]}
  - name: echo
    inputs: {parameters: [{name: v, value: none}]}
    container: {image: alpine:3, command: [sh, -c], args: ["echo {{inputs.parameters.v}}"]}
"""


def test_lifecycle_hooks_and_step_exit_handlers(emulated_argo):
    wf = emulated_argo.run(y(HOOKS))
    n = nodes_by_name(wf)
    assert wf["status"]["phase"] == "Succeeded"
    a = n["hooked[0].a"]
    exit_node, done = n["hooked[0].a.onExit"], n["hooked[0].a.hooks.done"]
    # runOnExitNode / executeTmplLifeCycleHook: hooked children of the step, in its boundary
    assert sorted(a["children"]) == sorted([exit_node["id"], done["id"]])
    assert exit_node["nodeFlag"] == {"hooked": True} and done["nodeFlag"] == {"hooked": True}
    assert exit_node["inputs"]["parameters"] == [{"name": "v", "value": "fine"}]
    assert done["inputs"]["parameters"] == [{"name": "v", "value": "late"}]
    assert "hooked[0].a.hooks.never" not in n
    assert (exit_node["displayName"], done["displayName"]) == ("a.onExit", "a.hooks.done")


def test_parallelism_limits_running_pods(emulated_argo):
    manifest = y("""
metadata: {name: par}
spec:
  entrypoint: main
  parallelism: 1
  templates:
  - name: main
    steps:
    - - {name: a, template: t}
      - {name: b, template: t}
      - {name: c, template: t}
  - name: t
    container: {image: alpine:3, command: [sh, -c], args: ["true"]}
""")
    wf = emulated_argo.run(manifest)
    assert wf["status"]["phase"] == "Succeeded"
    assert emulated_argo.cluster.max_running == 1
    manifest["spec"].pop("parallelism")
    manifest["metadata"]["name"] = "par2"
    emulated_argo.cluster.max_running = 0
    emulated_argo.run(manifest)
    assert emulated_argo.cluster.max_running > 1


def test_template_timeout_fails_the_pod(emulated_argo):
    wf = emulated_argo.run(
        y("""
metadata: {name: slow}
spec:
  entrypoint: main
  templates:
  - name: main
    steps: [[{name: nap, template: nap}]]
  - name: nap
    timeout: 1s
    container: {image: alpine:3, command: [sh, -c], args: ["sleep 30"]}
""")
    )
    nap = nodes_by_name(wf)["slow[0].nap"]
    assert nap["phase"] == "Failed" and wf["status"]["phase"] == "Failed"
    assert "deadline" in nap["message"].lower()


def test_memoized_step_takes_cached_outputs(emulated_argo):
    entry = {
        "nodeID": "old-123",
        "outputs": {"parameters": [{"name": "out", "value": "cached"}]},
        "creationTimestamp": "2099-01-01T00:00:00Z",
        "lastHitTimestamp": "2099-01-01T00:00:00Z",
    }
    emulated_argo.cluster.kube_objects[("argo", "configmaps", "cache")] = {
        "metadata": {"name": "cache", "labels": {"workflows.argoproj.io/configmap-type": "Cache"}},
        "data": {"k-1": json.dumps(entry)},
    }
    wf = emulated_argo.run(
        y("""
metadata: {name: memo}
spec:
  entrypoint: main
  templates:
  - name: main
    steps: [[{name: hit, template: t, arguments: {parameters: [{name: k, value: "1"}]}},
             {name: miss, template: t, arguments: {parameters: [{name: k, value: "2"}]}}]]
  - name: t
    inputs: {parameters: [{name: k}]}
    memoize: {key: "k-{{inputs.parameters.k}}", maxAge: "1h", cache: {configMap: {name: cache}}}
    container: {image: alpine:3, command: [sh, -c], args: ["echo fresh > /tmp/out"]}
    outputs: {parameters: [{name: out, valueFrom: {path: /tmp/out}}]}
""")
    )
    n = nodes_by_name(wf)
    hit, miss = n["memo[0].hit"], n["memo[0].miss"]
    assert hit["memoizationStatus"] == {"hit": True, "key": "k-1", "cacheName": "cache"}
    assert hit["outputs"]["parameters"][0]["value"] == "cached"
    assert miss["memoizationStatus"]["hit"] is False
    assert miss["outputs"]["parameters"][0]["value"] == "fresh"
    assert not any(p.endswith(str(fnv32a(hit["name"]))) for p in emulated_argo.cluster.pods_started)
    saved = json.loads(
        emulated_argo.cluster.kube_objects[("argo", "configmaps", "cache")]["data"]["k-2"]
    )
    assert saved["nodeID"] == miss["id"] and saved["outputs"] == miss["outputs"]


def test_retry_api_keeps_succeeded_nodes(emulated_argo, tmp_path):
    flag = tmp_path / "fixed"
    manifest = y(f"""
metadata: {{name: again}}
spec:
  entrypoint: main
  volumes: [{{name: host, hostPath: {{path: "{tmp_path}"}}}}]
  templates:
  - name: main
    steps:
    - - {{name: first, template: ok}}
    - - {{name: second, template: maybe}}
  - name: ok
    container: {{image: alpine:3, command: [sh, -c], args: ["true"]}}
  - name: maybe
    container:
      image: alpine:3
      command: [sh, -c]
      args: ["test -e /host/fixed"]
      volumeMounts: [{{name: host, mountPath: /host}}]
""")
    wf = emulated_argo.run(manifest)
    assert wf["status"]["phase"] == "Failed"
    first = nodes_by_name(wf)["again[0].first"]
    new, pods = formulate_retry(wf)
    kept = nodes_by_name(new)
    assert kept["again[0].first"] == first and "again[1].second" not in kept
    assert kept["again"]["phase"] == "Running" and kept["again[1]"]["phase"] == "Running"
    assert pods == [pod_name("again", "again[1].second", "maybe")]
    flag.write_text("")
    op = emulated_argo.operator("argo", "again")
    emulated_argo.retry(op.wf, False, "")
    op.join(60)
    done = nodes_by_name(op.snapshot())
    assert op.snapshot()["status"]["phase"] == "Succeeded"
    assert done["again[0].first"]["finishedAt"] == first["finishedAt"]  # not run again
    assert done["again[1].second"]["phase"] == "Succeeded"


def test_shapes_are_valid_api_responses(emulated_server):
    """Workflows served by the stand-in server validate against the swagger (strict)."""
    from argo_server import TOKEN
    from dflow_engine_argo.client import ArgoClient

    client = ArgoClient(emulated_server.url, "argo", TOKEN, backoff=0.01)
    created = client.create(y(STEPS))
    name = created["metadata"]["name"]
    deadline = time.monotonic() + 120  # bounds a hang only
    while True:
        wf = client.get(name)
        if wf["status"].get("phase") in ("Succeeded", "Failed", "Error"):
            break
        assert time.monotonic() < deadline, f"{name} never finished"
        time.sleep(0.05)
    assert wf["status"]["phase"] == "Succeeded"
    assert emulated_server.emulator.violations == []
    assert Path(RECORDED).is_dir()

"""ArgoEngine against the stand-in Argo Server in front of the emulated controller and pods.

The workflow actions (terminate, stop, suspend/resume, retry, resubmit) and the queries (logs,
steps) act on workflows that really run; every request and every served workflow is checked
against Argo's swagger by the fixtures.
"""

from __future__ import annotations

import time

import pytest
import yaml
from argo_server import TOKEN
from conformance.nodes import pod_name
from dflow_engine_argo.config import ArgoConfig
from dflow_engine_argo.engine import ArgoEngine


@pytest.fixture
def engine(emulated_server):
    return ArgoEngine(
        ArgoConfig(
            host=emulated_server.url,
            namespace="argo",
            token=TOKEN,
            backoff=0.01,
            poll_interval=0.05,
        )
    )


def wait_until(check, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def steps_by_name(engine: ArgoEngine, wf_id: str) -> dict:
    return {s.name: s for s in engine.query_step(wf_id)}


SLEEPY = yaml.safe_load("""
metadata: {generateName: sleepy-}
spec:
  entrypoint: main
  onExit: bye
  templates:
  - name: main
    steps:
    - - {name: hi, template: say}
    - - {name: nap, template: nap}
  - name: say
    container: {image: alpine:3, command: [sh, -c], args: ["echo hello from {{pod.name}}"]}
  - name: nap
    container: {image: alpine:3, command: [sh, -c], args: ["sleep 60"]}
  - name: bye
    container: {image: alpine:3, command: [sh, -c], args: ["echo bye"]}
""")


def test_logs_of_a_step_by_its_id(engine):
    wf = engine.submit_manifest(
        {
            **SLEEPY,
            "spec": {
                **SLEEPY["spec"],
                "templates": [
                    t
                    if t["name"] != "nap"
                    else {**t, "container": {**t["container"], "args": ["true"]}}
                    for t in SLEEPY["spec"]["templates"]
                ],
            },
        }
    )
    assert engine.wait(wf.id, interval=0.05) == "Succeeded"
    hi = steps_by_name(engine, wf.id)[f"{wf.id}[0].hi"]
    pod = pod_name(wf.id, hi.name, "say")
    # the step's log, found by its node id (its pod is named <wf>-say-<hash>, pod names v2)
    assert engine.logs(wf.id, step_id=hi.id) == f"hello from {pod}\n"
    assert f"hello from {pod}\n" in engine.logs(wf.id) and "bye\n" in engine.logs(wf.id)


@pytest.mark.parametrize(("action", "exit_runs"), [("terminate", False), ("stop", True)])
def test_terminate_and_stop_a_running_workflow(engine, emulated_argo, action, exit_runs):
    wf = engine.submit_manifest(SLEEPY)
    wait_until(
        lambda: any(
            s.phase == "Running" and s.name.endswith(".nap") for s in engine.query_step(wf.id)
        )
    )
    getattr(engine, action)(wf.id)
    assert engine.wait(wf.id, interval=0.05) == "Failed"
    done = engine.query(wf.id)
    strategy = action.capitalize()
    assert done.status.message == f"Stopped with strategy '{strategy}'"
    steps = steps_by_name(engine, wf.id)
    nap = steps[f"{wf.id}[1].nap"]
    # exec_control.go (v3.7.18): the pod is killed, its node failed with this message
    assert (nap.phase, nap.get("message")) == (
        "Failed",
        f"workflow shutdown with strategy:  {strategy}",
    )
    assert steps[f"{wf.id}[0].hi"].phase == "Succeeded"
    # Stop still runs the exit handler; Terminate does not (ShouldExecute, v3.7.18)
    assert (f"{wf.id}.onExit" in steps) is exit_runs
    # and the sleeping pod was killed, not left to sleep its 60 s
    wait_until(lambda: emulated_argo.cluster.running == 0, timeout=50)  # < the pod's 60 s


def test_suspend_holds_new_pods_until_resume(engine, emulated_server, tmp_path):
    gate = tmp_path / "gate"  # step a ends only once the workflow is suspended
    manifest = yaml.safe_load(f"""
metadata: {{generateName: held-}}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {{name: a, template: t}}
    - - {{name: b, template: t}}
  - name: t
    volumes: [{{name: gate, hostPath: {{path: "{tmp_path}"}}}}]
    container:
      image: alpine:3
      command: [sh, -c]
      args: ["while [ ! -e {gate} ]; do sleep 0.05; done"]
      volumeMounts: [{{name: gate, mountPath: "{tmp_path}"}}]
""")
    wf = engine.submit_manifest(manifest)
    engine.suspend(wf.id)
    gate.touch()
    # the pass that sees step a finished leaves step b alone while the workflow is suspended
    wait_until(lambda: steps_by_name(engine, wf.id)[f"{wf.id}[0].a"].phase == "Succeeded")
    names = steps_by_name(engine, wf.id)
    assert f"{wf.id}[1].b" not in names and engine.query_status(wf.id) == "Running"
    engine.resume(wf.id)
    assert engine.wait(wf.id, interval=0.05) == "Succeeded"


RETRIED = yaml.safe_load("""
metadata: {generateName: flip-}
spec:
  entrypoint: main
  arguments: {parameters: [{name: dir, value: /host}]}
  volumes: [{name: host, hostPath: {path: "/the-test-dir"}}]
  templates:
  - name: main
    dag:
      tasks:
      - {name: count, template: count}
      - {name: fan, template: gate, depends: count, arguments: {parameters: [{name: i, value: "{{item}}"}]}, withItems: [1, 2]}
  - name: count
    container:
      image: alpine:3
      command: [sh, -c]
      args: ["echo x >> {{workflow.parameters.dir}}/count"]
      volumeMounts: [{name: host, mountPath: /host}]
  - name: gate
    inputs: {parameters: [{name: i}]}
    container:
      image: alpine:3
      command: [sh, -c]
      args: ["test {{inputs.parameters.i}} = 1 || test -e {{workflow.parameters.dir}}/open"]
      volumeMounts: [{name: host, mountPath: /host}]
""")


def _retried(tmp_path) -> dict:
    import copy

    manifest = copy.deepcopy(RETRIED)
    manifest["spec"]["volumes"][0]["hostPath"]["path"] = str(tmp_path)
    return manifest


def test_retry_reruns_failed_nodes_only(engine, tmp_path):
    wf = engine.submit_manifest(_retried(tmp_path))
    assert engine.wait(wf.id, interval=0.05) == "Failed"
    before = steps_by_name(engine, wf.id)
    (tmp_path / "open").write_text("")
    engine.retry(wf.id)
    assert engine.wait(wf.id, interval=0.05) == "Succeeded"
    after = steps_by_name(engine, wf.id)
    assert (tmp_path / "count").read_text() == "x\n"  # the succeeded task was kept
    ok = f"{wf.id}.fan(0:1)"
    assert after[ok].id == before[ok].id and after[ok].finishedAt == before[ok].finishedAt
    assert after[f"{wf.id}.fan(1:2)"].phase == "Succeeded"
    assert after[f"{wf.id}.fan"].type == "TaskGroup"


def test_retry_of_one_succeeded_step(engine, tmp_path):
    (tmp_path / "open").write_text("")
    wf = engine.submit_manifest(_retried(tmp_path))
    assert engine.wait(wf.id, interval=0.05) == "Succeeded"
    count = steps_by_name(engine, wf.id)[f"{wf.id}.count"]
    engine.retry(wf.id, step_ids=[count.id])  # restartSuccessful + nodeFieldSelector id=...
    assert engine.wait(wf.id, interval=0.05) == "Succeeded"
    assert (tmp_path / "count").read_text() == "x\nx\n"


def test_resubmit_memoized_skips_succeeded_pods(engine, emulated_server, tmp_path):
    wf = engine.submit_manifest(_retried(tmp_path))
    assert engine.wait(wf.id, interval=0.05) == "Failed"
    (tmp_path / "open").write_text("")
    old_count = steps_by_name(engine, wf.id)[f"{wf.id}.count"]
    created = engine.client.resubmit(wf.id, memoized=True)
    new_id = created["metadata"]["name"]
    assert new_id != wf.id and new_id.startswith("flip-")
    assert engine.wait(new_id, interval=0.05) == "Succeeded"
    steps = steps_by_name(engine, new_id)
    count = steps[f"{new_id}.count"]
    # FormulateResubmitWorkflow (util.go, v3.7.18): succeeded pods come back Skipped
    assert (count.type, count.phase, count.get("message")) == (
        "Skipped",
        "Skipped",
        f"original pod: {old_count.id}",
    )
    assert (tmp_path / "count").read_text() == "x\n"
    labels = engine.query(new_id).metadata.labels
    assert labels["workflows.argoproj.io/resubmitted-from-workflow"] == wf.id

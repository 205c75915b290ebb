"""``Step(..., timeout=...)`` on both engines, and step keys checked when the Step is built.

The seed's user guide gives a step a timeout (``Step(..., timeout=t)``, in seconds); pydflow
1.8.134 has no such argument. The local engine kills the step (its process group, or its
Python worker) and marks it Failed; the Argo renderer gives the step a variant of its leaf
template carrying ``timeout``, since Argo accepts ``timeout`` on leaf templates only
(workflow/validate/validate.go, v3.7.18 and v4.1.2).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from dflow import DAG, ShellOPTemplate, Step, Steps, Task, Workflow
from dflow.python import OP, PythonOPTemplate

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins" / "engine_argo" / "tests"))
from argo_schema import assert_valid  # noqa: E402
from dflow_engine_argo.lint import check  # noqa: E402
from dflow_engine_argo.render import ArgoRenderer  # noqa: E402


@pytest.fixture
def local(tmp_path, monkeypatch):
    from dflow.config import config

    saved = dict(config)
    config.update(mode="local", debug_workdir=str(tmp_path), debug_pool_workers=1)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    config.clear()
    config.update(saved)


@OP.function
def nap(seconds: float) -> {"slept": float}:
    time.sleep(seconds)
    return {"slept": seconds}


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] == "Z"


def test_step_timeout_kills_a_script_step_on_the_local_engine(local):
    pidfile = local / "child.pid"
    hang = ShellOPTemplate(name="hang", script=f"sleep 60 & echo $! > {pidfile}; wait")
    wf = Workflow("step-timeout")
    wf.add(Step("hang", hang, timeout=1))
    wf.add(Step("never", hang))
    wf.submit()
    assert wf.query_status() == "Failed"
    [s] = wf.query_step(name="hang")
    assert s.phase == "Failed"
    assert "step 'hang' timed out after 1 s (its process group was killed)" in s.message
    deadline = time.monotonic() + 30  # the group was killed; this bounds how long reaping may take
    while not _gone(int(pidfile.read_text())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(int(pidfile.read_text()))
    assert wf.query_step(name="never") == []


def test_step_timeout_overrides_the_template_timeout(local):
    t = PythonOPTemplate(nap, timeout=1)
    wf = Workflow("override")
    wf.add(
        [
            Step("short", t, parameters={"seconds": 3}),
            Step("long", t, parameters={"seconds": 1.5}, timeout="30s"),
        ]
    )
    wf.submit()
    phases = {s.displayName: (s.phase, s.message) for s in wf.query_step(type="Pod")}
    assert phases["short"][0] == "Failed"
    assert "step 'short' timed out after 1 s" in phases["short"][1]
    assert phases["long"][0] == "Succeeded"
    [long_] = wf.query_step(name="long")
    assert long_.outputs.parameters["slept"].value == 1.5


def test_step_timeout_renders_a_leaf_variant_for_argo():
    sleepy = ShellOPTemplate(name="sleepy", image="alpine", script="sleep 5", timeout=100)
    wf = Workflow("tmo")
    wf.add(Step("a", sleepy, timeout=2.5))
    wf.add(Step("b", sleepy))
    wf.add(Step("c", sleepy, timeout="5m"))
    manifest = ArgoRenderer(artifact_kind="s3").manifest(wf)
    assert_valid(manifest)
    check(manifest)
    templates = {t["name"]: t for t in manifest["spec"]["templates"]}
    used = {s["name"]: s["template"] for group in templates["tmo-steps"]["steps"] for s in group}
    assert templates[used["a"]]["timeout"] == "2.5s"
    assert templates[used["b"]]["timeout"] == "100s"
    assert templates[used["c"]]["timeout"] == "300s"
    assert len({used["a"], used["b"], used["c"]}) == 3


def test_step_timeout_in_a_dag_renders_on_the_task_template():
    dag = DAG("d")
    dag.add(Task("t", ShellOPTemplate(name="echo", image="alpine", script="echo"), timeout=7))
    manifest = ArgoRenderer(artifact_kind="s3").manifest(Workflow("dagtmo", dag=dag))
    assert_valid(manifest)
    [echo] = [t for t in manifest["spec"]["templates"] if t["name"].startswith("echo")]
    assert echo["timeout"] == "7s"


@pytest.mark.parametrize("bad", [0, -3, "soon", True, "5x"])
def test_bad_step_timeout_is_refused_when_built(bad):
    t = ShellOPTemplate(name="t", script="true")
    with pytest.raises(ValueError, match=r"step 's': timeout .* is invalid: give a positive"):
        Step("s", t, timeout=bad)


def test_step_timeout_on_steps_template_is_refused():
    with pytest.raises(
        ValueError,
        match="timeout applies to script and Python OP steps, but template 'inner' is a Steps",
    ):
        Step("s", Steps("inner"), timeout=3)


# The verdicts below match pydflow 1.8.134's, observed side by side, except "a.b": pydflow
# refuses a '.', which we accept (a key is an RFC 1123 subdomain; our earlier releases took it).
@pytest.mark.parametrize("key", ["Not_Valid", "UPPER", "-lead", "a b", "k_{{item}}", "x/y"])
def test_invalid_key_is_refused_when_the_step_is_built(key):
    with pytest.raises(ValueError, match=r"step 's': key .* is invalid: use lower-case"):
        Step("s", ShellOPTemplate(name="t", script="true"), key=key)


@pytest.mark.parametrize(
    "key",
    [
        "iter-{{item}}",
        "{{item}}",
        "123-name",
        "a.b",
        "iter-",
        "sq-{{=item * 2}}",
        "x-{{inputs.parameters.i}}-y",
    ],
)
def test_keys_pydflow_accepts_stay_accepted(key):
    assert Step("s", ShellOPTemplate(name="t", script="true"), key=key).key == key


@pytest.mark.parametrize("name", ["123-NAME", "Hello", "a", "9"])
def test_step_names_pydflow_accepts_stay_accepted(name):
    assert Step(name, ShellOPTemplate(name="t", script="true")).name == name


def test_key_of_a_task_is_checked_too():
    with pytest.raises(ValueError, match=r"task 't': key 'Bad' is invalid"):
        Task("t", ShellOPTemplate(name="t", script="true"), key="Bad")


def test_step_timeout_bounds_an_http_step_on_the_local_engine(local):
    import http.server
    import threading

    from dflow.model.op_template import HTTPOPTemplate

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # the http.server hook
            time.sleep(3)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"late")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        t = HTTPOPTemplate(url=f"http://127.0.0.1:{server.server_port}/x", timeout=30)
        wf = Workflow("http-timeout")
        wf.add(Step("get", t, timeout=0.5))
        wf.submit()
        [s] = wf.query_step(name="get")
        assert s.phase == "Failed" and "timed out" in s.message
    finally:
        server.shutdown()
        server.server_close()

"""Script paths, script timeouts, stop/exit handlers, dead runners, reuse of artifacts, HTTP."""

from __future__ import annotations

import http.server
import io
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dflow import (
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Steps,
    Workflow,
    if_expression,
    upload_artifact,
)
from dflow.engine import EngineError
from dflow.model.op_template import HTTPOPTemplate
from dflow.python import OP, PythonOPTemplate
from local_engine_ops import Add


def test_declared_paths_mapped_other_text_untouched(workdir):
    Path("in.txt").write_text("payload")
    t = ShellOPTemplate(
        name="paths",
        script=(
            "mkdir -p /data/out && cat /data/in/in.txt > /data/out/copy.txt\n"
            "echo /tmp/data/not-declared > /tmp/outputs/parameters/literal\n"
            "echo $TMPDIR > /tmp/outputs/parameters/tmpdir\n"
            "echo {{inputs.artifacts.src.path}} > /tmp/outputs/parameters/var\n"
        ),
    )
    t.inputs.artifacts = {"src": InputArtifact(path="/data/in")}
    t.outputs.artifacts = {"dst": OutputArtifact(path="/data/out")}
    t.outputs.parameters = {
        n: OutputParameter(value_from_path=f"/tmp/outputs/parameters/{n}")
        for n in ("literal", "tmpdir", "var")
    }
    wf = Workflow("paths")
    wf.add(Step("p", t, artifacts={"src": upload_artifact("in.txt")}))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    [s] = wf.query_step(name="p")
    out = s.outputs.parameters
    assert out["literal"].value == "/tmp/data/not-declared"  # never rewritten
    step_work = workdir / wf.id / s.id / "workdir"
    assert out["tmpdir"].value == str(step_work / "tmp")
    assert out["var"].value == str(step_work / "data" / "in")
    assert (Path(s.outputs.artifacts["dst"]["local_path"]) / "copy.txt").read_text() == "payload"


def test_script_timeout_kills_the_process_group(workdir):
    pidfile = workdir / "child.pid"
    t = ShellOPTemplate(name="hang", timeout=1, script=f"sleep 60 & echo $! > {pidfile}; wait")
    wf = Workflow("hang")
    wf.add(Step("hang", t))
    wf.submit()
    [s] = wf.query_step(name="hang")
    assert s.phase == "Failed" and "timed out after 1 s" in s.message
    child = int(pidfile.read_text())

    def gone() -> bool:
        stat = Path(f"/proc/{child}/stat")
        return not stat.exists() or stat.read_text().split()[2] == "Z"

    # the group was signalled; the deadline only bounds how long the kernel may take
    deadline = time.monotonic() + 30
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone()


def test_stop_runs_exit_handler_and_terminate_does_not(workdir):
    mark = workdir / "exit.txt"
    wf = Workflow("stopme", on_exit=ShellOPTemplate(name="bye", script=f"echo bye >> {mark}"))
    wf.add(Step("long", ShellOPTemplate(name="long", script="sleep 60")))
    wf.submit(wait=False)
    deadline = time.monotonic() + 120  # bounds a hang only
    while not wf.query_step(name="long", phase="Running"):
        assert time.monotonic() < deadline, "step 'long' never started"
        time.sleep(0.05)
    wf.stop()
    assert wf.wait(interval=0.05) == "Failed"
    assert mark.read_text() == "bye\n"


def test_dead_runner_reported_and_double_submit_refused(workdir):
    script = workdir / "r.py"
    script.write_text(
        "from dflow import ShellOPTemplate, Step, Workflow, config\n"
        f"config['mode'] = 'local'; config['debug_workdir'] = {str(workdir)!r}\n"
        "wf = Workflow('dead', id='dead-1')\n"
        "wf.add(Step('s', ShellOPTemplate(name='s', script='sleep 60')))\n"
        "wf.submit()\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)])
    wf = Workflow("dead", id="dead-1")
    wf.add(Step("s", ShellOPTemplate(name="s", script="true")))
    deadline = time.monotonic() + 120  # bounds a hang only
    while True:
        assert time.monotonic() < deadline, "the first run never started step 's'"
        try:
            if wf.query_step(name="s", phase="Running"):
                break
        except EngineError:
            pass
        time.sleep(0.05)
    with pytest.raises(EngineError, match="already running"):
        wf.submit()
    proc.kill()
    proc.wait()
    assert wf.query_status() == "Failed"
    assert "submit it again" in wf.query().status.message
    # what the dead runner left running is reported as over: an Error of its own
    [s] = wf.query_step(name="s")
    assert (s.phase, s.message) == (
        "Error",
        "the process running this workflow died while this step was unfinished",
    )
    assert wf.query().status.nodes[s.id].phase == "Error"
    wf.submit()  # resume: the step runs again and succeeds
    assert wf.query_status() == "Succeeded"


def test_global_artifact_from_expression_and_reused_artifact(workdir):
    Path("a.txt").write_text("A")
    Path("b.txt").write_text("B")
    t = ShellOPTemplate(
        name="cp",
        script="mkdir -p /tmp/outputs/artifacts/o && cp /tmp/inputs/artifacts/i/* /tmp/outputs/artifacts/o",
    )
    t.inputs.artifacts = {"i": InputArtifact(path="/tmp/inputs/artifacts/i")}
    t.outputs.artifacts = {
        "o": OutputArtifact(path="/tmp/outputs/artifacts/o", global_name="final")
    }
    inner = Steps("pick")
    inner.inputs.parameters["x"] = InputParameter()
    s1 = Step("s1", t, artifacts={"i": upload_artifact("a.txt")}, key="copy-a")
    s2 = Step("s2", t, artifacts={"i": upload_artifact("b.txt")})
    inner.add([s1, s2])
    inner.outputs.artifacts["chosen"] = OutputArtifact(
        from_expression=if_expression(
            _if=inner.inputs.parameters["x"] == "a",
            _then=s1.outputs.artifacts["o"],
            _else=s2.outputs.artifacts["o"],
        )
    )
    wf = Workflow("arts")
    wf.add(Step("pick", inner, parameters={"x": "a"}))
    wf.submit()
    [p] = wf.query_step(name="pick")
    chosen = Path(p.outputs.artifacts["chosen"]["local_path"])
    assert (chosen / "a.txt").read_text() == "A"
    assert "final" in wf.query_global_outputs().artifacts
    [c] = wf.query_step(key="copy-a")
    c.modify_output_artifact("o", str(Path("b.txt").parent))
    wf2 = Workflow("arts")
    wf2.add(Step("pick", inner, parameters={"x": "a"}))
    wf2.submit(reuse_step=[c])
    [p2] = wf2.query_step(name="pick")
    assert (Path(p2.outputs.artifacts["chosen"]["local_path"]) / "b.txt").exists()


def test_http_step(workdir):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"pong " + self.path.encode())

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        t = HTTPOPTemplate(url=f"http://127.0.0.1:{server.server_port}/{{{{inputs.parameters.q}}}}")
        t.inputs.parameters = {"q": InputParameter()}
        t.outputs.parameters = {"result": OutputParameter()}
        wf = Workflow("http")
        wf.add(Step("get", t, parameters={"q": "ping"}))
        wf.add(Step("after", PythonOPTemplate(Add), parameters={"a": 1, "b": 2}))
        wf.submit()
        assert wf.query_status() == "Succeeded"
        assert wf.query_step(name="get")[0].outputs.parameters["result"].value == "pong /ping"
    finally:
        server.shutdown()


def test_script_output_parameters_lose_exactly_one_trailing_newline(workdir):
    # Argo's executor: strings.TrimSuffix(value, "\n"), on file contents and on defaults
    t = ShellOPTemplate(
        name="nl",
        script=(
            "printf 'a\\n' > /tmp/one; printf 'b\\n\\n' > /tmp/two; printf 'c' > /tmp/none; "
            "printf ' d \\n' > /tmp/spaces"
        ),
    )
    t.outputs.parameters = {
        n: OutputParameter(value_from_path=f"/tmp/{n}") for n in ("one", "two", "none", "spaces")
    }
    t.outputs.parameters["missing"] = OutputParameter(value_from_path="/tmp/missing", default="e\n")
    wf = Workflow("newlines")
    wf.add(Step("nl", t))
    wf.submit()
    [s] = wf.query_step(name="nl")
    got = {n: s.outputs.parameters[n].value for n in ("one", "two", "none", "spaces", "missing")}
    assert got == {"one": "a", "two": "b\n", "none": "c", "spaces": " d ", "missing": "e"}


@OP.function
def prints_partial(i: int) -> {"o": int}:  # noqa: F821
    print(f"partial-{i}", end="")  # no newline: still this step's, not the next one's
    return {"o": i}


@OP.function
def closes_stdout(i: int) -> {"o": int}:  # noqa: F821
    print(f"closing-{i}")
    sys.stdout.close()
    return {"o": i}


@OP.function
def replaces_stdout(i: int) -> {"o": int}:  # noqa: F821
    sys.stdout.write(f"replacing-{i}")
    sys.stdout = io.StringIO()
    print("into the StringIO")
    return {"o": i}


def test_each_step_logs_its_own_output_when_an_op_closes_orreplaces_stdout(workdir):
    """One worker serves every step (its streams on fds 1 and 2 live as long as it does): an
    OP closing ``sys.stdout`` or replacing it after a partial line neither kills the worker
    nor moves a line into another step's log."""
    from dflow.config import config

    config["debug_pool_workers"] = 1
    ops = [prints_partial, closes_stdout, prints_partial, replaces_stdout, prints_partial]
    wf = Workflow("streams")
    for n, op in enumerate(ops):
        wf.add(Step(f"s{n}", PythonOPTemplate(op), parameters={"i": n}))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    logs = {}
    for n in range(len(ops)):
        [s] = wf.query_step(name=f"s{n}")
        logs[n] = (workdir / wf.id / s.id / "log.txt").read_text()
    assert logs == {
        0: "partial-0",
        1: "closing-1\n",
        2: "partial-2",
        3: "replacing-3",
        4: "partial-4",
    }

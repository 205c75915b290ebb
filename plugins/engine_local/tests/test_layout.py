"""The on-disk layout of a run is pydflow's debug-mode layout (reference/dflow-api.md §2.2, §2.9).

What scripts and notebooks read: the workflow dir's ``status``/``type``/``pid``/``children``,
one flat dir per step (its key, or ``<wf-id>-<step name>-<5 chars>``) holding ``name``,
``type``, ``phase``, ``inputs/``/``outputs/`` parameters with ``.dflow`` type metadata,
artifact links, and for a Pod ``script``, ``pid``, ``log.txt`` and ``workdir/``; global
outputs linked under ``<wf>/outputs/``. The journal stays the source of truth: the files agree
with it, also after a run killed with SIGKILL is resumed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from dflow import (
    DAG,
    InputParameter,
    Inputs,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Steps,
    Task,
    Workflow,
    argo_range,
    upload_artifact,
)
from dflow.python import PythonOPTemplate
from local_engine_ops import Add, Boom, Hello, Square

# the engine's own state; .groups holds a loop's shared inputs and stacked outputs, and the
# one copy of the small files many steps hold alike (their step files link to it)
ENGINE_FILES = {"journal.db", "journal.db-wal", "journal.db-shm", "runner.lock", ".groups"}


def listing(root: Path) -> set[str]:
    """Every path below ``root``, relative, dirs marked with a trailing '/'."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            full = os.path.join(dirpath, d)
            out.add(os.path.normpath(os.path.join(rel, d)) + ("" if os.path.islink(full) else "/"))
        out.update(os.path.normpath(os.path.join(rel, f)) for f in filenames)
    return out


def children(path: Path) -> dict[str, str]:
    return json.loads((path / "children").read_text())


def test_pod_step_dir_is_pydflows(workdir):
    Path("foo.txt").write_text("Hi\n")
    step = Step(
        "hello",
        PythonOPTemplate(Hello),
        parameters={"msg": "ab", "num": 3},
        artifacts={"foo": upload_artifact("foo.txt")},
    )
    wf = Workflow("pod")
    wf.add(step)
    wf.submit()
    wf_dir = workdir / wf.id
    assert (wf_dir / "status").read_text() == "Succeeded"
    assert (wf_dir / "type").read_text() == "Steps"
    assert int((wf_dir / "pid").read_text()) == os.getpid()
    kids = children(wf_dir)
    assert list(kids) == ["0-0"]
    name = kids["0-0"]
    assert re.fullmatch(rf"{wf.id}-hello-[0-9a-z]{{5}}", name)
    # one dir per step, none for the workflow's own template
    assert (
        set(os.listdir(wf_dir))
        == {"status", "type", "pid", "children", "children.lock", name} | ENGINE_FILES
    )
    sd = wf_dir / name
    [h] = wf.query_step(name="hello")
    assert h.id == name
    assert listing(sd) - {"log.txt"} == {
        "name",
        "type",
        "phase",
        "pid",
        "script",
        "inputs/",
        "inputs/parameters/",
        "inputs/parameters/msg",
        "inputs/parameters/num",
        "inputs/parameters/.dflow/",
        "inputs/parameters/.dflow/msg",
        "inputs/parameters/.dflow/num",
        "inputs/artifacts/",
        "inputs/artifacts/foo",
        "outputs/",
        "outputs/parameters/",
        "outputs/parameters/msg",
        "outputs/parameters/.dflow/",
        "outputs/parameters/.dflow/msg",
        "outputs/artifacts/",
        "outputs/artifacts/bar",
        "workdir/",
        "workdir/output.txt",
        "workdir/tmp/",
        "workdir/tmp/inputs/",
        "workdir/tmp/inputs/artifacts/",
        "workdir/tmp/inputs/artifacts/foo",
        "workdir/tmp/outputs/",
        "workdir/tmp/outputs/parameters/",
        "workdir/tmp/outputs/parameters/msg",
        "workdir/tmp/outputs/artifacts/",
        "workdir/tmp/outputs/artifacts/bar/",
        "workdir/tmp/outputs/artifacts/bar/output.txt",
        "workdir/tmp/outputs/artifacts/bar/.dflow/",
    } | {
        f"workdir/tmp/outputs/artifacts/bar/.dflow/{c}"
        for c in os.listdir(sd / "workdir/tmp/outputs/artifacts/bar/.dflow")
    }
    text = {
        p: (sd / p).read_text()
        for p in (
            "name",
            "type",
            "phase",
            "inputs/parameters/msg",
            "inputs/parameters/num",
            "inputs/parameters/.dflow/msg",
            "inputs/parameters/.dflow/num",
            "outputs/parameters/msg",
            "outputs/parameters/.dflow/msg",
        )
    }
    assert text == {
        "name": "hello",
        "type": "Pod",
        "phase": "Succeeded",
        "inputs/parameters/msg": "ab",
        "inputs/parameters/num": "3",
        "inputs/parameters/.dflow/msg": '{"type": "str"}',
        "inputs/parameters/.dflow/num": '{"type": "int"}',
        "outputs/parameters/msg": "ababab",
        "outputs/parameters/.dflow/msg": '{"type": "str"}',
    }
    # links as pydflow makes them: the input where the OP reads it, the output where it wrote
    assert os.readlink(sd / "workdir/tmp/inputs/artifacts/foo") == str(sd / "inputs/artifacts/foo")
    assert os.readlink(sd / "outputs/artifacts/bar") == str(
        sd / "workdir/tmp/outputs/artifacts/bar"
    )
    assert (sd / "outputs/artifacts/bar/output.txt").read_text() == "Hi\n" * 3
    assert int((sd / "pid").read_text()) != os.getpid()  # the worker that ran it


def test_script_runs_the_step_again(workdir):
    wf = Workflow("again")
    wf.add(Step("add", PythonOPTemplate(Add), parameters={"a": 2, "b": 3}))
    wf.submit()
    [s] = wf.query_step(name="add")
    sd = workdir / wf.id / s.id
    produced = sd / "workdir/tmp/outputs/parameters/c"
    assert produced.read_text() == "5"
    produced.unlink()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), *sys.path])}
    run = subprocess.run(
        [sys.executable, str(sd / "script")], cwd="/", env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert produced.read_text() == "5"


def test_nested_keyed_steps_and_dags(workdir):
    dag = DAG(name="inner")
    dag.inputs.parameters = {"x": InputParameter(type=int)}
    t1 = Task(
        "t1", PythonOPTemplate(Square), parameters={"x": dag.inputs.parameters["x"]}, key="t1-key"
    )
    t2 = Task("t2", PythonOPTemplate(Square), parameters={"x": t1.outputs.parameters["y"]})
    dag.add(t1)
    dag.add(t2)
    dag.outputs.parameters = {
        "z": OutputParameter(value_from_parameter=t2.outputs.parameters["y"], global_name="zz")
    }
    outer = Steps(name="outer", inputs=Inputs(parameters={"x": InputParameter()}))
    inner = Step("inner", dag, parameters={"x": outer.inputs.parameters["x"]}, key="inner-key")
    outer.add(inner)
    wf = Workflow("nested")
    wf.add(Step("outer", outer, parameters={"x": 2}))
    wf.add(
        Step(
            "fan", PythonOPTemplate(Square), parameters={"x": "{{item}}"}, with_param=argo_range(3)
        )
    )
    wf.submit()
    assert wf.query_status() == "Succeeded"
    wf_dir = workdir / wf.id
    top = children(wf_dir)
    assert list(top)[:1] == ["0-0"] and sorted(top)[1:] == ["1-0-0", "1-0-1", "1-0-2"]
    outer_dir = wf_dir / top["0-0"]
    assert re.fullmatch(rf"{wf.id}-outer-[0-9a-z]{{5}}", top["0-0"])
    assert children(outer_dir) == {"0-0": "inner-key"}
    inner_kids = children(wf_dir / "inner-key")
    assert inner_kids["0"] == "t1-key" and re.fullmatch(
        rf"{wf.id}-t2-[0-9a-z]{{5}}", inner_kids["1"]
    )
    # a Steps/DAG step: name, type, phase, children, its own inputs and outputs
    ik = wf_dir / "inner-key"
    assert {
        p: (ik / p).read_text()
        for p in (
            "name",
            "type",
            "phase",
            "inputs/parameters/x",
            "inputs/parameters/.dflow/x",
            "inputs/parameters/dflow_key",
            "outputs/parameters/z",
            "outputs/parameters/.dflow/z",
        )
    } == {
        "name": "inner",
        "type": "DAG",
        "phase": "Succeeded",
        "inputs/parameters/x": "2",
        "inputs/parameters/.dflow/x": '{"type": "int"}',
        "inputs/parameters/dflow_key": "inner-key",
        "outputs/parameters/z": "16",
        "outputs/parameters/.dflow/z": '{"type": "int", "globalName": "zz"}',
    }
    assert not (ik / "workdir").exists() and not (ik / "script").exists()
    # an untyped Steps input takes the type of the parameter it is passed to, as in pydflow
    assert (outer_dir / "inputs/parameters/.dflow/x").read_text() == '{"type": "int"}'
    [o] = wf.query_step(name="outer")
    assert o.inputs.parameters["x"].value == 2
    # loop items: one dir each, named after the step; no dir for the loop itself
    items = [top[k] for k in ("1-0-0", "1-0-1", "1-0-2")]
    assert all(re.fullmatch(rf"{wf.id}-fan-[0-9a-z]{{5}}", d) for d in items)
    assert [(wf_dir / d / "name").read_text() for d in items] == ["fan"] * 3
    assert [(wf_dir / d / "outputs/parameters/y").read_text() for d in items] == ["0", "1", "4"]
    step_dirs = {d for d in os.listdir(wf_dir) if (wf_dir / d / "type").exists()}
    assert step_dirs == {top["0-0"], "inner-key", "t1-key", inner_kids["1"], *items}
    # the global output links to the producing step's file
    g = wf_dir / "outputs/parameters/zz"
    assert os.readlink(g) == str(ik / "outputs/parameters/z") and g.read_text() == "16"


def test_failed_steps_keep_inputs_log_and_what_the_journal_says_of_outputs(workdir):
    sh = ShellOPTemplate(name="fail", script="echo {{inputs.parameters.p}}; exit 3")
    sh.inputs.parameters = {"p": InputParameter()}
    wf = Workflow("fails")
    wf.add(
        [
            Step("sh", sh, parameters={"p": "hi"}),
            Step("boom", PythonOPTemplate(Boom), parameters={"mode": "raise", "counter": ""}),
        ]
    )
    wf.submit()
    assert (workdir / wf.id / "status").read_text() == "Failed"
    [s] = wf.query_step(name="sh")
    sd = workdir / wf.id / s.id
    assert (sd / "phase").read_text() == "Failed"
    assert (sd / "inputs/parameters/p").read_text() == "hi"
    assert (sd / "log.txt").read_text() == "hi\n"
    assert not (sd / "outputs").exists()  # no outputs, no outputs/ (as in pydflow)
    [b] = wf.query_step(name="boom")
    sd = workdir / wf.id / b.id
    assert "boom on purpose" in (sd / "log.txt").read_text()
    assert (sd / "workdir/tmp").is_dir()
    # the declared default of its output (None for a bare type) is its output, as Argo has it
    assert b.outputs.parameters["out"].value is None
    assert (sd / "outputs/parameters/out").read_text() == "null"
    assert files_match_journal(workdir / wf.id) == []


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def files_match_journal(wf_dir: Path) -> list[str]:
    """Where the step files disagree with the journal (empty: they agree)."""
    conn = sqlite3.connect(f"file:{wf_dir / 'journal.db'}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT id, parent_id, type, phase, dir, ord, outputs FROM nodes"
    ).fetchall()
    conn.close()
    nodes = {r[0]: r for r in rows}
    problems = []
    for node_id, parent_id, type_, phase, dir_, order, outputs in rows:
        if dir_ is None:
            if type_ not in ("Skipped", "Omitted", "StepGroup", "TaskGroup") and parent_id:
                problems.append(f"{node_id}: a {type_} step without a dir")
            continue
        sd = wf_dir / dir_
        if read(sd / "phase") != phase:
            problems.append(f"{dir_}: phase file {read(sd / 'phase')!r}, journal {phase}")
        if phase == "Succeeded" and type_ == "Pod":
            for name, p in json.loads(outputs)["parameters"].items():
                if read(sd / "outputs/parameters" / name) != p["value"]:
                    problems.append(f"{dir_}: output {name} differs from the journal")
        if order:
            holder, parent = wf_dir, nodes.get(parent_id)
            while parent is not None and parent[2] not in ("Steps", "DAG"):
                parent = nodes.get(parent[1])
            if parent is not None and parent[4]:
                holder = wf_dir / parent[4]
            if json.loads(read(holder / "children") or "{}").get(order) != dir_:
                problems.append(f"{dir_}: not at {order} in {holder.name}/children")
    return problems


def test_resumed_run_rewrites_files_a_crash_left_behind(workdir):
    counter = workdir / "n"
    wf = Workflow("lag", id="lag-1")
    a = Step("a", PythonOPTemplate(Add), parameters={"a": 1, "b": 2})
    b = Step("b", PythonOPTemplate(Boom), parameters={"mode": "fatal", "counter": str(counter)})
    wf.add(a)
    wf.add(b)
    wf.submit()
    assert wf.query_status() == "Failed"
    wf_dir = workdir / "lag-1"
    [sa] = wf.query_step(name="a")
    # what a kill between a journal commit and the deferred writes leaves
    (wf_dir / sa.id / "phase").write_text("Running")
    (wf_dir / sa.id / "outputs/parameters/c").unlink()
    (wf_dir / sa.id / "outputs/parameters/.dflow/c").unlink()
    (wf_dir / "children").write_text("{}")
    # and the temporary files the writers had under way (named <name>.<pid>[.<thread>].tmp)
    stray = [
        wf_dir / sa.id / "phase.4242.tmp",
        wf_dir / sa.id / "outputs/parameters/c.4242.77.tmp",
        wf_dir / "children.4242.tmp",
        wf_dir / ".groups/.files/f0123abcd.4242.77.tmp",
    ]
    for path in stray:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    users = wf_dir / sa.id / "workdir/data.4242.tmp"  # the OP's own file: not the engine's
    users.parent.mkdir(exist_ok=True)
    users.write_text("mine")
    assert files_match_journal(wf_dir)
    b.template = PythonOPTemplate(Boom)
    wf2 = Workflow("lag", id="lag-1")
    wf2.add(Step("a", PythonOPTemplate(Add), parameters={"a": 1, "b": 2}))
    wf2.add(Step("b", PythonOPTemplate(Boom), parameters={"mode": "ok", "counter": ""}))
    wf2.submit()
    assert wf2.query_status() == "Succeeded"
    assert files_match_journal(wf_dir) == []
    sd = wf_dir / sa.id
    assert (sd / "outputs/parameters/c").read_text() == "3"
    assert (sd / "outputs/parameters/.dflow/c").read_text() == '{"type": "int"}'
    assert list(children(wf_dir)) == ["0-0", "1-0"]
    assert [p for p in stray if p.exists()] == []
    assert users.read_text() == "mine"


KILLED = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from dflow import Step, Steps, Workflow, config
    from dflow.python import PythonOPTemplate, Slices
    from local_engine_ops import AppendLine, Square
    config["mode"] = "local"
    config["debug_workdir"] = {workdir!r}
    config["debug_pool_workers"] = 2
    inner = Steps(name="inner")
    inner.add(Step("fan", PythonOPTemplate(AppendLine, slices=Slices(
        input_parameter=["x"], output_parameter=["y"])),
        parameters={{"x": list(range(150)), "path": {out!r}, "delay": 0.01}}))
    wf = Workflow("killed", id="killed-1")
    wf.add(Step("first", PythonOPTemplate(Square), parameters={{"x": 3}}))
    wf.add(Step("inner", inner, key="inner"))
    wf.submit()
    print(wf.query_status())
""")


def test_files_agree_with_the_journal_after_sigkill_and_resume(workdir):
    script = workdir / "run.py"
    script.write_text(
        KILLED.format(
            tests=os.path.dirname(__file__), workdir=str(workdir), out=str(workdir / "lines.txt")
        )
    )
    db = workdir / "killed-1" / "journal.db"
    proc = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            done = conn.execute(
                "SELECT count(*) FROM nodes WHERE type='Pod' AND phase='Succeeded'"
            ).fetchone()[0]
            conn.close()
        except sqlite3.Error:
            done = 0
        if done >= 30:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert done >= 30
    resumed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert resumed.stdout.strip().endswith("Succeeded"), resumed.stderr
    wf_dir = workdir / "killed-1"
    assert files_match_journal(wf_dir) == []
    items = children(wf_dir / "inner")
    assert sorted(items, key=lambda k: int(k.split("-")[-1])) == [f"0-0-{i}" for i in range(150)]
    assert len(set(items.values())) == 150


def test_reused_step_dir_and_children(workdir):
    def build():
        a = Step("a", PythonOPTemplate(Add), parameters={"a": 1, "b": 1}, key="step-a")
        b = Step(
            "b",
            PythonOPTemplate(Add),
            parameters={"a": a.outputs.parameters["c"], "b": 1},
            key="step-b",
        )
        wf = Workflow("reuse")
        wf.add(a)
        wf.add(b)
        return wf

    wf = build()
    wf.submit()
    [a] = wf.query_step(key="step-a")
    a.modify_output_parameter("c", 40)
    wf2 = build()
    wf2.submit(reuse_step=[a])
    wf_dir = workdir / wf2.id
    assert children(wf_dir) == {"0-0": "step-a", "1-0": "step-b"}
    sd = wf_dir / "step-a"
    assert {
        p: (sd / p).read_text()
        for p in (
            "name",
            "type",
            "phase",
            "inputs/parameters/a",
            "inputs/parameters/.dflow/a",
            "outputs/parameters/c",
            "outputs/parameters/.dflow/c",
        )
    } == {
        "name": "a",
        "type": "Pod",
        "phase": "Succeeded",
        "inputs/parameters/a": "1",
        "inputs/parameters/.dflow/a": '{"type": "int"}',
        "outputs/parameters/c": "40",
        "outputs/parameters/.dflow/c": '{"type": "int"}',
    }
    assert (wf_dir / "step-b/outputs/parameters/c").read_text() == "41"
    assert files_match_journal(wf_dir) == []

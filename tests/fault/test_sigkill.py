"""SIGKILL of the runner at random points, then resume: steps journaled Succeeded ran exactly
once (one that finished in the last group commit's window, 50 ms, runs again, as the steps in
flight do), no step ran twice at the same time, and nothing of either run is left alive."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid

from fault_helpers import HERE, kill_all, running, tagged

SEED = int(os.environ.get("FAULT_SEED", "0")) or random.randrange(1, 2**31)
print(f"tests/fault/test_sigkill.py: FAULT_SEED={SEED}")  # re-run a failure with it

PRELUDE = """
import sys
sys.path.insert(0, {here!r})
from dflow import ShellOPTemplate, Step, Workflow, config
from dflow.python import PythonOPTemplate, Slices
from fault_ops import Count
config["mode"] = "local"
config["debug_workdir"] = {workdir!r}
config["debug_pool_workers"] = 2
wf = Workflow("{name}", id="{name}-1")
"""

SHAPES = {
    # five Python OP steps one after the other
    "chain": """
prev = None
for i in range(5):
    x = 0 if prev is None else prev.outputs.parameters["y"]
    s = Step(f"c{{i}}", PythonOPTemplate(Count), parameters={{"x": x, "path": {out!r}, "delay": 0.3}})
    wf.add(s)
    prev = s
""",
    # a 24-way fan-out on two workers
    "fanout": """
wf.add(Step("fan", PythonOPTemplate(Count, slices=Slices(input_parameter=["x"],
    output_parameter=["y"])), parameters={{"x": list(range(24)), "path": {out!r}, "delay": 0.1}}))
""",
    # four script steps; each one's side effect comes from a child of its shell
    "scripts": """
for i in range(4):
    t = ShellOPTemplate(name=f"s{{i}}", script=f"sh -c 'sleep 0.4; echo {{i}} >> {out}'")
    wf.add(Step(f"s{{i}}", t))
""",
}


def _script(tmp_path, name, body):
    out = str(tmp_path / "count")
    text = PRELUDE.format(here=str(HERE), workdir=str(tmp_path), name=name)
    text += body.format(out=out) + "\nwf.submit()\nprint('PHASE', wf.query_status())\n"
    path = tmp_path / "run.py"
    path.write_text(textwrap.dedent(text))
    return path, out


def _succeeded(db: str) -> list[str]:
    if not os.path.exists(db):
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT display_name FROM nodes WHERE type='Pod' AND phase='Succeeded'"
        ).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()
    return [r[0] for r in rows]


def _lines(out: str) -> list[str]:
    return open(out).read().split() if os.path.exists(out) else []


def _kill_then_resume(tmp_path, name, body, after_lines, extra):
    """Run; SIGKILL the runner ``extra`` seconds after the ``after_lines``-th side effect
    (a point in the run, however loaded the machine); resume; (lines, done before kill)."""
    script, out = _script(tmp_path, name, body)
    tag = uuid.uuid4().hex
    env = {**os.environ, "FAULT_TAG": tag}
    first = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while len(_lines(out)) < after_lines and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(extra)
    first.kill()
    first.wait()
    db = str(tmp_path / f"{name}-1" / "journal.db")
    done_before = _succeeded(db)
    try:
        again = subprocess.run(
            [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert "PHASE Succeeded" in again.stdout, again.stdout + again.stderr
        survivors = tagged(tag)
        assert survivors == [], f"processes of the runs still alive: {survivors}"
    finally:
        kill_all(tagged(tag))
    return _lines(out), done_before


def _check(lines, done_before, values, in_flight):
    counts = {v: lines.count(v) for v in values}
    assert all(counts[v] >= 1 for v in values), counts
    assert len(lines) - len(values) <= in_flight, counts  # only steps cut short ran twice
    return counts


def test_sigkill_at_random_points_of_a_chain_a_fan_out_and_script_steps(tmp_path):
    rng = random.Random(SEED)
    failures = []
    for shape, body in SHAPES.items():
        size = {"chain": 5, "fanout": 24, "scripts": 4}[shape]
        after, extra = rng.randrange(1, size), rng.uniform(0, 0.3)
        work = tmp_path / shape
        work.mkdir()
        try:
            lines, done = _kill_then_resume(work, shape, body, after, extra)
            if shape == "chain":
                # the step running, and one that finished in the last group commit's window
                counts = _check(lines, done, [str(i) for i in range(5)], 2)
                once = [f"c{i}" for i in range(5)]
            elif shape == "fanout":
                # two in flight, and up to one per worker finished in the last group
                # commit's window (test_group_commit.py bounds that window)
                counts = _check(lines, done, [str(i) for i in range(24)], 4)
                once = [f"fan({i}:{i})" for i in range(24)]
            else:
                # as for the chain: the step running, and one finished in the last window
                counts = _check(lines, done, [str(i) for i in range(4)], 2)
                once = [f"s{i}" for i in range(4)]
            for i, step in enumerate(once):
                if any(d == step or d.startswith(step.split("(")[0] + f"({i}:") for d in done):
                    assert counts[str(i)] == 1, f"{step} journaled Succeeded ran again"
        except AssertionError as exc:
            failures.append(f"{shape} (killed {extra:.2f} s after line {after}): {exc}")
    assert not failures, f"FAULT_SEED={SEED}\n" + "\n".join(failures)


RESUME = """
t = ShellOPTemplate(name="long", script="sh -c 'echo $$ >> {out}.started; "
    "while [ ! -e {out}.gate ]; do sleep 0.05; done; echo ran >> {out}'")
wf.add(Step("long", t))
"""


def test_a_resumed_run_first_kills_the_script_step_the_crashed_run_left(tmp_path):
    """The runner dies while a script step's child waits: the resumed run kills that child
    before running the step again, so it completes exactly once. (The step's copies wait for
    a gate the test opens once the second copy runs: however long the resumed run takes to
    start, the first copy cannot finish first.)"""
    script, out = _script(tmp_path, "resume", RESUME)
    tag = uuid.uuid4().hex
    env = {**os.environ, "FAULT_TAG": tag}
    first = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not os.path.exists(out + ".started"):
        time.sleep(0.02)
    first.kill()
    first.wait()
    try:
        assert len(tagged(tag)) >= 1  # the step's child outlived the runner
        again = subprocess.Popen(
            [sys.executable, str(script)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while len(_lines(out + ".started")) < 2 and again.poll() is None:
            assert time.monotonic() < deadline, "the resumed run never started the step again"
            time.sleep(0.02)
        open(out + ".gate", "w").close()
        stdout, stderr = again.communicate(timeout=120)
        assert "PHASE Succeeded" in stdout, stdout + stderr
        started = [int(pid) for pid in open(out + ".started").read().split()]
        assert len(started) == 2, started  # started twice...
        # ...and the first copy is gone (had it survived, it wrote its line before ending)
        assert running(started[:1], settle=30) == []
        assert open(out).read().split() == ["ran"]  # ...and ran once
        assert tagged(tag) == []
    finally:
        kill_all(tagged(tag))

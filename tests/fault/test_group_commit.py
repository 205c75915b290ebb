"""The journal commits finished steps in groups: a SIGKILL loses one short window at most.

A fan-out's slices and a chain's steps are committed together, every ``GROUP_COMMIT`` seconds
or every ``GROUP_LEAVES`` finished leaves (docs/processes.md, "What a crash loses"). The
runner is killed at a random point of a 100-way fan-out, and of a chain of 60 steps; then,
before the run resumes, every step the runner had seen finish (its ``phase`` file, written
just after, says Succeeded) more than a short window before the kill must be journaled
Succeeded, and a chain's step is never journaled ahead of the step it follows; after the
resume, no step journaled Succeeded ran again and every step's result is right.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid

from fault_helpers import HERE, kill_all, tagged

SEED = int(os.environ.get("FAULT_SEED", "0")) or random.randrange(1, 2**31)
N = 100
# the promise is 50 ms (or 32 finished slices); the rest is room for a loaded machine's
# late timers and the mirror writing the phase file after the journal was told
WINDOW = 0.6

# the run scripts' first lines: the engine and the counting OP
PREAMBLE = """
import json, sys
sys.path.insert(0, {here!r})
from dflow import Step, Workflow, config
from dflow.python import PythonOPTemplate, Slices
from fault_ops import Count
config["mode"] = "local"
config["debug_workdir"] = {workdir!r}
config["debug_pool_workers"] = 2
"""

SCRIPT = (
    PREAMBLE
    + """
wf = Workflow("group", id="group-1")
wf.add(Step("fan", PythonOPTemplate(Count, slices=Slices(input_parameter=["x"],
    output_parameter=["y"])), parameters={{"x": list(range({n})), "path": {out!r},
    "delay": 0.03}}))
wf.submit()
print("PHASE", wf.query_status())
print("Y", json.dumps(wf.query_step(name="fan")[0].outputs.parameters["y"].value))
"""
)


def _journal(db: str) -> dict[str, tuple[str, str]]:
    """dir -> (phase, display name) of every journaled leaf."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT dir, phase, display_name FROM nodes WHERE type='Pod'")
        return {d: (p, name) for d, p, name in rows if d}
    finally:
        conn.close()


def _seen_finished(wf_dir: str) -> dict[str, float]:
    """dir -> mtime of the phase file of every slice dir whose phase file says Succeeded."""
    out = {}
    for name in os.listdir(wf_dir):
        phase = os.path.join(wf_dir, name, "phase")
        try:
            with open(phase) as f:
                if f.read() == "Succeeded":
                    out[name] = os.stat(phase).st_mtime
        except OSError:
            continue
    return out


def _script(tmp_path, template: str, **fields: object) -> tuple:
    """(script, the file its OPs count into, the tag of its processes, its environment):
    ``template`` written to ``run.py`` in ``tmp_path``, the workflow dir beside it."""
    out = str(tmp_path / "count")
    script = tmp_path / "run.py"
    text = template.format(here=str(HERE), workdir=str(tmp_path), out=out, **fields)
    script.write_text(textwrap.dedent(text))
    tag = uuid.uuid4().hex
    return script, out, tag, {**os.environ, "FAULT_TAG": tag}


def _kill_midway(script, env, cwd, out: str, after: int, extra: float, poll: float) -> float:
    """Run ``script`` and SIGKILL it ``extra`` seconds after its OPs have written ``after``
    lines to ``out``; the time of the kill."""
    first = subprocess.Popen([sys.executable, str(script)], env=env, cwd=cwd)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if os.path.exists(out) and len(open(out).read().split()) >= after:
            break
        time.sleep(poll)
    time.sleep(extra)
    killed_at = time.time()
    first.kill()
    first.wait()
    return killed_at


def test_sigkill_mid_fan_out_loses_one_group_window_at_most(tmp_path):
    rng = random.Random(SEED)
    script, out, tag, env = _script(tmp_path, SCRIPT, n=N)
    after, extra = rng.randrange(40, 80), rng.uniform(0, 0.2)
    try:
        killed_at = _kill_midway(script, env, tmp_path, out, after, extra, poll=0.01)
        wf_dir = str(tmp_path / "group-1")
        journaled = _journal(os.path.join(wf_dir, "journal.db"))
        seen = _seen_finished(wf_dir)
        lost = {
            d: round(killed_at - t, 3)
            for d, t in seen.items()
            if t < killed_at - WINDOW and journaled.get(d, ("",))[0] != "Succeeded"
        }
        # finished (and known to the runner) well before the kill, yet not committed
        assert not lost, f"FAULT_SEED={SEED}: seconds before the kill: {lost}"
        done = [name for phase, name in journaled.values() if phase == "Succeeded"]
        lines_before = open(out).read().split()
        again = subprocess.run(
            [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert "PHASE Succeeded" in again.stdout, again.stdout + again.stderr
        y = json.loads(again.stdout.split("Y ", 1)[1].splitlines()[0])
        assert [int(v) for v in y] == list(range(1, N + 1))  # no result lost
        lines = open(out).read().split()
        twice = sorted({int(v) for v in lines if lines.count(v) > 1})
        for name in done:  # fan(3:3): item 3 ran once
            item = name.split("(")[1].split(":")[0]
            assert lines.count(item) == 1, f"FAULT_SEED={SEED}: {name} ran again"
        # re-run: the slices in flight (2 workers) and those of the lost window
        assert len(twice) <= 2 + 32, (twice, len(lines_before))
        assert sorted(int(v) for v in set(lines)) == list(range(N))
    finally:
        kill_all(tagged(tag))


CHAIN = (
    PREAMBLE
    + """
wf = Workflow("chain", id="chain-1")
prev = None
for i in range({n}):
    x = 0 if prev is None else prev.outputs.parameters["y"]
    prev = Step(f"c{{i}}", PythonOPTemplate(Count), parameters={{"x": x, "path": {out!r},
        "delay": 0.02}})
    wf.add(prev)
wf.submit()
print("PHASE", wf.query_status())
print("Y", wf.query_step(name="c{last}")[0].outputs.parameters["y"].value)
"""
)


def test_sigkill_mid_chain_loses_one_group_window_and_never_a_predecessor(tmp_path):
    """A chain's steps are committed in groups too: a kill loses the last window's ends
    at most, the journal never holds a step without the one before it, and the resumed
    run re-runs only the lost and the running steps, each giving the same value."""
    rng = random.Random(SEED)
    n = 60
    script, out, tag, env = _script(tmp_path, CHAIN, n=n, last=n - 1)
    after, extra = rng.randrange(20, 55), rng.uniform(0, 0.1)
    try:
        killed_at = _kill_midway(script, env, tmp_path, out, after, extra, poll=0.005)
        wf_dir = str(tmp_path / "chain-1")
        journaled = _journal(os.path.join(wf_dir, "journal.db"))
        seen = _seen_finished(wf_dir)
        where = f"FAULT_SEED={SEED} (killed {extra:.3f} s after line {after})"
        lost = {
            journaled.get(d, ("", d))[1]: round(killed_at - t, 3)
            for d, t in seen.items()
            if t < killed_at - WINDOW and journaled.get(d, ("",))[0] != "Succeeded"
        }
        assert not lost, f"{where}: seconds before the kill: {lost}"
        steps = sorted(int(name[1:]) for _, name in journaled.values())
        done = sorted(int(name[1:]) for phase, name in journaled.values() if phase == "Succeeded")
        assert done == list(range(len(done))), f"{where}: journaled Succeeded: {done}"
        # what the journal holds beyond the Succeeded steps is the one step that was running
        assert steps == list(range(len(steps))) and len(steps) - len(done) <= 1, (where, steps)
        assert done, f"{where}: nothing committed after {after} steps"
        again = subprocess.run(
            [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert "PHASE Succeeded" in again.stdout, again.stdout + again.stderr
        assert again.stdout.split("Y ", 1)[1].split()[0] == str(n), again.stdout
        lines = [int(v) for v in open(out).read().split()]
        assert sorted(set(lines)) == list(range(n)), f"{where}: {lines}"
        for i in done:
            assert lines.count(i) == 1, f"{where}: c{i} journaled Succeeded ran again"
        twice = sorted({v for v in lines if lines.count(v) > 1})
        # re-run: the steps of the lost window and the one running
        assert len(twice) <= 1 + 32, (where, twice)
        assert all(v >= len(done) for v in twice), (where, twice)
    finally:
        kill_all(tagged(tag))

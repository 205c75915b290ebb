"""Steps' output on the console as they write it, as pydflow's debug mode shows it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

RUN = """
import sys, time
from pathlib import Path
from dflow import ShellOPTemplate, Step, Workflow, config
from dflow.python import OP, PythonOPTemplate, TransientError
config["mode"] = "local"

@OP.function
def talk(gate: str) -> {"n": int}:
    print("first line of the OP", flush=True)
    while not Path(gate).exists():
        time.sleep(0.05)
    print("second line, no newline at the end", end="")
    return {"n": 1}

@OP.function
def flaky(marker: str) -> {"n": int}:
    print("attempt output", flush=True)
    if not Path(marker).exists():
        Path(marker).write_text("tried")
        raise TransientError("once")
    return {"n": 2}

script = ShellOPTemplate(
    name="shout", script="echo from the script; echo to stderr >&2; sleep 30 &"
)
wf = Workflow("echo")
wf.add(Step("talk", PythonOPTemplate(talk), parameters={"gate": sys.argv[1]}))
wf.add(Step("flaky", PythonOPTemplate(flaky, retry_on_transient_error=1),
            parameters={"marker": sys.argv[1] + ".tried"}))
wf.add(Step("shout", script))
wf.submit()
print("PHASE", wf.query_status(), flush=True)
"""


def _start(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    script = tmp_path / "run.py"
    script.write_text(RUN)
    gate = tmp_path / "gate"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(gate)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return proc, gate


def _read_lines(proc: subprocess.Popen, lines: list[str]) -> threading.Thread:
    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def test_step_output_is_echoed_live_once_per_attempt_without_dflow_lines(tmp_path):
    proc, gate = _start(tmp_path)
    lines: list[str] = []
    pump = _read_lines(proc, lines)
    try:
        # the step blocks until the gate exists: its first line must show before it ends
        deadline = time.monotonic() + 60
        while "first line of the OP" not in lines:
            assert proc.poll() is None, lines
            assert time.monotonic() < deadline, f"no live output: {lines}"
            time.sleep(0.05)
        gate.touch()
        assert proc.wait(timeout=120) == 0
    finally:
        proc.kill()
    pump.join(timeout=10)
    assert lines[:2] == ["first line of the OP", "second line, no newline at the end"]
    # each attempt's output once, the failed one's traceback between them (as pydflow shows it)
    attempts = [i for i, line in enumerate(lines) if line == "attempt output"]
    assert len(attempts) == 2, lines
    assert any("TransientError: once" in line for line in lines[attempts[0] : attempts[1]])
    # a script's stderr is merged into its output, as pydflow merges it
    assert lines[attempts[1] + 1 :] == ["from the script", "to stderr", "PHASE Succeeded"]
    assert not [line for line in lines if line.startswith("[dflow] ")]


def test_echo_logs_false_keeps_the_console_for_dflow(tmp_path):
    (tmp_path / "dflow.toml").write_text("[engines.local]\necho_logs = false\n")
    proc, gate = _start(tmp_path)
    gate.touch()
    out, _ = proc.communicate(timeout=120)
    assert out.splitlines() == ["PHASE Succeeded"]
    [log] = tmp_path.glob("echo-*/*-talk-*/log.txt")
    assert "first line of the OP" in log.read_text()

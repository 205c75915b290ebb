"""The third-party executor template installs for real and is picked from dflow.toml by name."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).with_name("uv")

SCRIPT = textwrap.dedent(
    """
    from dflow import OutputParameter, ShellOPTemplate, Step, Workflow

    t = ShellOPTemplate(name="niceness", image="alpine",
                        script="nice > {{outputs.parameters.n.path}}")
    t.outputs.parameters = {"n": OutputParameter(value_from_path="/tmp/n")}
    wf = Workflow(name="nice")
    wf.add(Step("show", t))
    wf.submit()
    step = wf.query_step(name="show")[0]
    print("RESULT", wf.query_status(), step.outputs.parameters["n"].value.strip())
    """
)


def test_template_executor_is_installed_and_selected_by_config(tmp_path):
    site = tmp_path / "site"
    subprocess.run([str(UV), "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    str(ROOT / "templates" / "executor-plugin")], check=True)
    work = tmp_path / "work"
    work.mkdir()
    (work / "dflow.toml").write_text('engine = "local"\nexecutor = "nice"\n\n'
                                     "[executors.nice]\nniceness = 7\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("DFLOW_MODE", None)
    listed = subprocess.run([sys.executable, "-m", "dflow", "plugins"], cwd=work, env=env,
                            capture_output=True, text=True, check=True).stdout
    assert "executor-nice" in listed and "dflow-executor-nice" in listed
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "RESULT Succeeded 7" in proc.stdout
    logs = list(work.glob("nice-*/*/log.txt"))
    assert any("[nice] running at niceness 7" in p.read_text() for p in logs)

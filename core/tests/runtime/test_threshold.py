"""``dflow.runner.threshold``: the success threshold of a fan-out, the same on both engines."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from dflow.runner import threshold
from dflow.runner.threshold import required
from dflow.testing.pythons import pyenv_python


def test_required_is_a_count_or_a_ratio_of_the_items():
    assert required(10, num=3) == 3
    assert required(10, num="3") == 3  # as Argo passes it, a string
    assert required(10, num=2.5) == 2  # a count: both engines truncate it
    assert required(5, ratio=0.6) == pytest.approx(3.0)
    assert required(5, ratio="0.5") == 2.5
    assert required(5) is None  # no threshold: any failed item fails the step


@pytest.mark.parametrize("version", ["3.7", "3.13"])
def test_the_module_is_the_check_steps_script(version, tmp_path):
    """Argo's check step runs this file as it is, on the util image's bare Python (3.7+)."""
    python = pyenv_python(version)
    assert python, f"no pyenv CPython {version}: the pod runtime is tested on 3.7-3.13"
    script = tmp_path / "check.py"
    script.write_text(Path(threshold.__file__).read_text())  # no dflow next to it
    cases = [
        (["true", "false", "true"], "0.6", "ratio", 0, "2 of 3 items succeeded (need 1.8)"),
        (["true", "false", "false"], "0.6", "ratio", 1, "1 of 3 items succeeded (need 1.8)"),
        (["true", "false", "false"], "1.5", "number", 0, "1 of 3 items succeeded (need 1)"),
        (["False", "false"], "1", "number", 1, "0 of 2 items succeeded (need 1)"),
    ]
    for tags, value, mode, code, line in cases:
        env = {
            "DFLOW_TAGS": json.dumps(tags),
            "DFLOW_TOTAL": str(len(tags)),
            "DFLOW_THRESHOLD": value,
            "DFLOW_MODE": mode,
            "PATH": os.environ["PATH"],
        }
        done = subprocess.run(
            [python, "-I", "-S", str(script)], env=env, capture_output=True, text=True, cwd=tmp_path
        )
        assert (done.returncode, done.stdout.strip()) == (code, line), done.stderr

"""pydflow's own test suite, run unchanged against our local engine (a compatibility gate).

pydflow 1.8.134's sdist on PyPI ships its ``tests/``. At test time the sdist is downloaded once
into ``.work/pydflow-sdist/`` (``pip download --no-deps --no-binary :all:``; the cached file is
reused, see ``pydflow_ref.py``), its ``tests/`` are extracted into a temporary directory, and
they run there with this interpreter's pytest and ``DFLOW_MODE=debug``, as pydflow's own CI
runs them. None of pydflow's files is kept in this repository.

One test, one count: every test of the suite must pass, except those listed in ``KNOWN`` (each
with the reason and the work that removes it). A known failure that starts passing fails this
test too, so the list cannot go stale. If PyPI cannot be reached the test fails and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from pydflow_ref import SDIST, VERSION, extract_tests

SUITE_SIZE = 10  # the test functions in pydflow 1.8.134's tests/

# test id -> why it fails today (remove the entry when the fix lands)
KNOWN: dict[str, str] = {}


def outcomes(junit: Path) -> dict[str, str]:
    """``file::test`` -> "passed" / "failed: <message>" / "skipped: <message>"."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        test_id = f"{module}.py::{case.get('name')}"
        verdict = "passed"
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                word = "skipped" if tag == "skipped" else "failed"
                verdict = f"{word}: {el.get('message', '').splitlines()[0][:300]}"
                break
        out[test_id] = verdict
    return out


def test_pydflow_suite_passes_on_the_local_engine(tmp_path):
    tests = extract_tests(tmp_path)
    names = sorted(p.name for p in tests.glob("test_*.py"))
    assert names, f"no test files in {SDIST}"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # none of our config applies
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "DFLOW_MODE": "debug"}
    env.pop("DFLOW_CONFIG", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(tmp_path / "pytest.ini"),
            "--rootdir",
            str(tmp_path),
            f"--junitxml={junit}",
            "tests",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert junit.is_file(), f"pytest did not run the suite:\n{proc.stdout[-3000:]}{proc.stderr}"
    results = outcomes(junit)
    failing = {t: v for t, v in results.items() if v != "passed" and t not in KNOWN}
    fixed = [t for t in KNOWN if results.get(t) == "passed"]
    report = "\n".join(f"  {t}: {v}" for t, v in sorted(failing.items()))
    assert len(results) == SUITE_SIZE, (
        f"ran {len(results)} tests of pydflow {VERSION}, expected {SUITE_SIZE}:\n"
        f"{proc.stdout[-3000:]}"
    )
    assert not failing, (
        f"{len(failing)} of {len(results)} pydflow tests fail on the local engine:\n{report}\n"
        f"(full output below)\n{proc.stdout[-6000:]}"
    )
    assert not fixed, f"now passing, remove from KNOWN: {fixed}"
    passed = sum(1 for v in results.values() if v == "passed")
    assert passed == SUITE_SIZE - len(KNOWN), results

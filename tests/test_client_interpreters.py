"""The client on the newer Pythons users run it with: CPython 3.12 and 3.13.

The suite runs on 3.11 (the Makefile's venv). What depends on the interpreter on the client's
side (finding an OP's source in a script, type names in messages, the collector's frozen
generation, forking beside threads) is exercised again under pyenv's 3.12 and 3.13: the core's
tests and the local engine's end-to-end ones, in venvs made once under ``.work/clients`` with
everything installed as in the main venv (editable: they run this tree's code). Both run at
once (two cores); the test asserts each ran as many tests as 3.11 collects and lists the
failures. Found this way: 3.13's class ``__firstlineno__`` read through the MRO (a function
OP in a script shipped the wrong code), ``pathlib._local.Path`` in messages, and 3.12.1's
375 objects frozen at start-up (the run's collector freeze never happened).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from dflow.testing.pythons import pyenv_python

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = ROOT / ".work" / "clients"
VERSIONS = ("3.12", "3.13")
#: the client-side suites: the core's (OPs, shipping, validation, config, expressions, the
#: runner), the local engine's end-to-end and semantics ones, and its collector tests (the
#: rest of test_step_cost times the writer thread: left to the 3.11 run, not to two suites
#: sharing two cores)
STEP_COST = "plugins/engine_local/tests/test_step_cost.py"
SUBSET = (
    "core/tests",
    "plugins/engine_local/tests/test_basic.py",
    "plugins/engine_local/tests/test_semantics.py",
    f"{STEP_COST}::test_a_runs_objects_are_frozen_while_it_runs_and_collected_again_after",
    f"{STEP_COST}::test_a_full_collection_during_a_run_freezes_the_runners_survivors_not_a_workers",
)
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")


def _packages() -> list[str]:
    plugins = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    editable = [f"{ROOT / 'core'}[test]", *(f"{p}[test]" for p in plugins)]
    return [
        *(arg for spec in editable for arg in ("-e", spec)),
        "pytest>=8",
        "pytest-timeout>=2.3",
        "jsonschema>=4.20",
        "uv",
    ]


def _client_venv(version: str, python: str) -> Path:
    """A venv of ``python`` with the project installed, made once per set of pyproject files."""
    home = CLIENTS / version
    packages = _packages()
    manifests = sorted(
        [ROOT / "core" / "pyproject.toml", *(ROOT / "plugins").glob("*/pyproject.toml")]
    )
    stamp = hashlib.sha256(
        "\n".join([python, *packages, *(m.read_text() for m in manifests)]).encode()
    ).hexdigest()
    done = home / ".complete"
    CLIENTS.mkdir(parents=True, exist_ok=True)
    with open(CLIENTS / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fresh = not done.exists() or done.read_text() != stamp
        if fresh:
            shutil.rmtree(home, ignore_errors=True)
            for cmd in (
                [UV, "venv", "-q", "--python", python, str(home)],
                [UV, "pip", "install", "-q", "--python", str(home / "bin" / "python"), *packages],
            ):
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
                assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}"
        # bytecode (the machine may forbid writing it, and each test's subprocess would
        # compile what it imports again): the venv's once, this tree's when it changed
        sources = [str(ROOT / "core" / "src"), str(ROOT / "plugins")]
        subprocess.run(
            [str(home / "bin" / "python"), "-m", "compileall", "-q", "-j", "0"]
            + ([str(home / "lib")] if fresh else [])
            + sources,
            capture_output=True,
        )
        if fresh:
            done.write_text(stamp)
    return home / "bin" / "python"


def _collected(python: str) -> int:
    proc = subprocess.run(
        [python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *SUBSET],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return sum(1 for line in proc.stdout.splitlines() if "::" in line)


def _results(report: Path) -> tuple[int, list[str], int]:
    """(tests run, failures and errors with their first line, skipped) of a junit report."""
    ran, bad, skipped = 0, [], 0
    for case in ET.parse(report).getroot().iter("testcase"):
        ran += 1
        name = f"{case.get('classname')}::{case.get('name')}"
        for kind in ("failure", "error"):
            for found in case.findall(kind):
                first = (found.get("message") or "").splitlines()[:1]
                bad.append(f"{name}: {kind}: {first[0] if first else ''}")
        skipped += len(case.findall("skipped"))
    return ran, bad, skipped


def test_the_client_suites_pass_on_python_3_12_and_3_13(tmp_path):
    if UV is None:
        pytest.fail("uv not found next to the test interpreter or on PATH (make setup installs it)")
    pythons = {v: pyenv_python(v) for v in VERSIONS}
    missing = [v for v, p in pythons.items() if p is None]
    assert not missing, f"no pyenv CPython {', '.join(missing)} (pyenv install {missing[0]})"
    venvs = {v: _client_venv(v, str(p)) for v, p in pythons.items()}
    expected = _collected(sys.executable)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    runs = {}
    for version, python in venvs.items():
        report = tmp_path / f"{version}.xml"
        log = open(tmp_path / f"{version}.log", "w")  # closed after the wait
        proc = subprocess.Popen(
            [
                str(python),
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--junitxml={report}",
                f"--basetemp={tmp_path / version}",
                *SUBSET,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
        runs[version] = (proc, report, log)
    problems = []
    for version, (proc, report, log) in runs.items():
        proc.wait()
        log.close()
        if not report.exists():
            problems.append(
                f"{version}: no report:\n{(tmp_path / f'{version}.log').read_text()[-3000:]}"
            )
            continue
        ran, bad, skipped = _results(report)
        if ran != expected or bad:
            problems.append(f"{version}: ran {ran} of {expected} tests; failed: {bad}")
        if skipped:  # 3.11 skips none of them: a skip here is a test lost on this Python
            problems.append(f"{version}: {skipped} tests skipped")
    assert problems == [], "\n".join(problems)

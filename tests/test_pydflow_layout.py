"""The local engine's on-disk layout, side by side with pydflow's debug mode.

The same workflows run under pydflow 1.8.134 (installed from PyPI into ``.work/pydflow-venv``
at test time, see ``pydflow_ref.py``) and under our local engine, each in a fresh directory
with ``DFLOW_MODE=debug``; the workflow directories are listed with random ids and uuids
masked (``pydflow_ref.tree``) and must be the same, file names, contents and link targets,
except for the differences kept on purpose in ``KEPT`` (each one is in the migration notes,
and each must still occur, so the list cannot go stale). The values each workflow reports must
be the same too. pydflow's side (seconds per workflow: it starts an interpreter per step) is
kept in ``.work/pydflow-layout/``, keyed by the workflow's files; a changed workflow runs
under pydflow again.

Workflows: ``tests/pydflow_layout/s*.py`` (ours: chains, shell and Python script templates,
fan-outs, keys, conditions, nested keyed Steps/DAG, global outputs, failures) and five of
pydflow's own tests from its sdist (test_python, test_dag, test_recurse, test_reuse,
test_conditional_outputs).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pydflow_ref import VERSION, WORK, extract_tests, pydflow_python, run_env, tree

SCENARIOS = Path(__file__).parent / "pydflow_layout"
SDIST_TESTS = ("test_python", "test_dag", "test_recurse", "test_reuse", "test_conditional_outputs")
REFERENCE = WORK / "pydflow-layout"

# name -> (side whose line it is, pattern of the line, why the difference is kept)
KEPT: dict[str, tuple[str, str, str]] = {
    "packages artifact": (
        "pydflow",
        r"dflow_python_packages",
        "pydflow ships dflow and upload_packages to every step as an artifact; our Python OPs "
        "run in the engine's worker pool with the submitting interpreter's modules",
    ),
    "empty tmp dirs": (
        "pydflow",
        r"^D \S+/workdir/tmp/(inputs|inputs/artifacts|outputs/artifacts)$",
        "pydflow's step script always makes them (its packages artifact is an input); ours "
        "exist when the OP has input / output artifacts",
    ),
    "catalog order": (
        "both",
        r'/\.dflow/<uuid> = \{"path_list": \[\{"dflow_list_item": "[^"]*"(, "order": 0)?'
        r"\}\]\}$",
        "core's catalog writes no order for an artifact holding one path (pydflow: order 0); "
        "both read either",
    ),
    "uploaded artifact": (
        "both",
        r"^L \S+/inputs/artifacts/\w+ -> <ROOT>/(upload/<uuid>/<tmp>|\.cache/<key>)$",
        "upload_artifact archives into the local store (pydflow debug mode: a tree of links "
        "under upload/); the engine unpacks it once into <artifact dir>/.cache",
    ),
    "failed step's outputs": (
        "dflow",
        r"^[DF] WF/<boom@1-0>/outputs(/|$)",
        "a failed step keeps its partial outputs and its outputs' declared defaults (an output "
        "typed by a bare type defaults to None), as Argo does and the journal records them; "
        "pydflow's debug mode writes no outputs for a failed step",
    ),
    "trailing newline": (
        "both",
        r"^F \S+/outputs/parameters/r = hello(\\n)?$",
        "a script's output parameter file loses one trailing newline, as Argo's executor "
        "trims it (pydflow's debug mode keeps it)",
    ),
}


def start(python: Path, argv: list[str], cwd: Path, files: list[Path]) -> subprocess.Popen:
    cwd.mkdir(parents=True)
    for f in files:
        shutil.copy(f, cwd)
    return subprocess.Popen(
        [str(python), *argv],
        cwd=cwd,
        env=run_env(python),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def finish(proc: subprocess.Popen, script: bool) -> dict:
    """What the run reported on its RESULT line ({} for a pytest run)."""
    out, _ = proc.communicate(timeout=600)
    found = re.findall(r"^RESULT (.*)$", out, re.M)
    if proc.returncode != 0 or (script and not found):
        raise AssertionError(f"{' '.join(proc.args)} exited with {proc.returncode}:\n{out[-4000:]}")
    return json.loads(found[-1]) if found else {}


def reference_file(case: str, files: list[Path]) -> Path:
    """Where pydflow's side of ``case`` is kept: keyed by its files and the normalizer."""
    digest = hashlib.sha1(VERSION.encode())
    for f in [Path(__file__).with_name("pydflow_ref.py"), *files]:
        digest.update(f.read_bytes())
    return REFERENCE / f"{case}-{digest.hexdigest()[:12]}.json"


def kept(side: str, line: str) -> str | None:
    for name, (where, pattern, _why) in KEPT.items():
        if where in (side, "both") and re.search(pattern, line):
            return name
    return None


@pytest.mark.slow
def test_layout_is_pydflows(tmp_path):
    ours = Path(sys.executable)
    sdist_tests = extract_tests(tmp_path / "sdist")
    cases: dict[str, tuple[list[Path], list[str]]] = {
        p.stem: ([SCENARIOS / "ops.py", p], [p.name]) for p in sorted(SCENARIOS.glob("s*.py"))
    }
    for name in SDIST_TESTS:
        cases[name] = (
            [sdist_tests / f"{name}.py"],
            ["-m", "pytest", "-q", "-p", "no:cacheprovider", f"{name}.py"],
        )
    differences: dict[str, list[str]] = {}
    used: set[str] = set()
    for case, (files, argv) in cases.items():
        cached = reference_file(case, files)
        sides = (
            {"dflow": ours} if cached.is_file() else {"pydflow": pydflow_python(), "dflow": ours}
        )
        procs = {
            side: start(python, argv, tmp_path / case / side, files)
            for side, python in sides.items()
        }  # both at once: the CPUs are two
        results = {side: finish(proc, argv[0].endswith(".py")) for side, proc in procs.items()}
        listings = {side: set(tree(tmp_path / case / side)) for side in sides}
        if "pydflow" in sides:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(
                json.dumps({"tree": sorted(listings["pydflow"]), "result": results["pydflow"]})
            )
        else:
            reference = json.loads(cached.read_text())
            listings["pydflow"], results["pydflow"] = set(reference["tree"]), reference["result"]
        assert listings["dflow"], f"{case}: no workflow dir was written"
        diff = []
        for side, other in (("pydflow", "dflow"), ("dflow", "pydflow")):
            for line in sorted(listings[side] - listings[other]):
                reason = kept(side, line)
                if reason is None:
                    diff.append(f"only {side}: {line}")
                used.add(reason or "")
        if results["pydflow"] != results["dflow"]:
            diff.append(f"results: pydflow {results['pydflow']}, dflow {results['dflow']}")
        if diff:
            differences[case] = diff
    report = "\n".join(f"{case}:\n  " + "\n  ".join(d) for case, d in differences.items())
    assert not differences, (
        f"{len(differences)} of {len(cases)} workflows lay out differently:\n{report}"
    )
    assert set(KEPT) <= used, f"no longer differ, remove from KEPT: {set(KEPT) - used}"

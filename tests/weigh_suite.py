"""How many tests of the suite test dflow: ``python tests/weigh_suite.py [test folders...]``.

A test that still passes when the product is gone tests something else (the test support, the
reference data, the style). This runs the suite twice more and counts:

1. with ``dflow`` and every ``dflow_*`` plugin unimportable, in the test process and in every
   process it starts (a ``sitecustomize`` on ``PYTHONPATH`` installs an import blocker);
2. the linter's tests with ``dflow_engine_argo.lint.lint`` replaced by ``return []``.

Product tests = collected - passed in (1) - passed in (2). Prints the numbers and, per file,
the tests that passed without the product. Takes as long as the tests that still run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_TESTS = "plugins/engine_argo/tests/test_lint.py"

BLOCK_DFLOW = '''
import sys

class _NoDflow:
    """Makes dflow and its plugins unimportable, as if never installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "dflow" or name.startswith(("dflow.", "dflow_")):
            raise ModuleNotFoundError(f"No module named {name!r} (weigh_suite)", name=name)
        return None

sys.meta_path.insert(0, _NoDflow())
'''

STUB_LINT = '''
import sys

class _StubLint:
    """Replaces dflow_engine_argo.lint.lint with a linter that finds nothing."""

    def find_spec(self, name, path=None, target=None):
        if name != "dflow_engine_argo.lint":
            return None
        sys.meta_path.remove(self)
        import importlib.util
        spec = importlib.util.find_spec(name)
        sys.meta_path.insert(0, self)
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):
            original(module)
            module.lint = lambda manifest: []

        loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _StubLint())
'''


def collected(roots: list[str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *roots],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return [line for line in out.stdout.splitlines() if "::" in line]


def passed_with(site: str, root: str) -> set[str]:
    """Ids of the tests under ``root`` that pass with ``site`` as sitecustomize (in every
    process). A conftest that cannot import stops pytest from running anything: then the
    tests run without conftests (support modules importable), so those that need nothing
    from them still count."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "sitecustomize.py").write_text(site)
        report = Path(tmp, "report.xml")
        for extra in ([], ["--noconftest"]):
            path = os.pathsep.join([tmp] + ([str(ROOT / root)] if extra else []))
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    *extra,
                    "--continue-on-collection-errors",
                    f"--junitxml={report}",
                    root,
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": path},
                capture_output=True,
            )
            if report.exists():
                break
        else:
            return set()
        tree = ET.parse(report)
    return {
        f"{case.get('classname')}::{case.get('name')}"
        for case in tree.iter("testcase")
        if not any(child.tag in ("failure", "error", "skipped") for child in case)
    }


def main(roots: list[str]) -> None:
    roots = roots or [
        "core/tests",
        *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("plugins/*/tests")),
        "tests",
    ]
    total = collected(roots)
    no_product = set().union(*(passed_with(BLOCK_DFLOW, r) for r in roots))
    lint_run = any(LINT_TESTS.startswith(r.rstrip("/")) for r in roots)
    no_linter = passed_with(STUB_LINT, LINT_TESTS) - no_product if lint_run else set()
    print(f"collected:                              {len(total)}")
    print(f"pass with dflow unimportable:           {len(no_product)}")
    print(f"linter tests passing with lint() -> []: {len(no_linter)}")
    print(f"tests that test the product:            {len(total) - len(no_product | no_linter)}")
    by_module = Counter(i.rsplit("::", 1)[0] for i in no_product | no_linter)
    for name, n in by_module.most_common():
        print(f"  {n:5d}  {name}")


if __name__ == "__main__":
    main(sys.argv[1:])

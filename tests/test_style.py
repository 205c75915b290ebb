"""House style gates that a reviewer would otherwise check by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["core", "plugins", "tests", "benchmarks", "examples", "templates"]


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    proc = subprocess.run([str(ruff), "check", *SOURCES], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_no_module_over_700_lines():
    big = []
    for path in ROOT.glob("*/**/*.py"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & {".venv", ".work", "tests", "test"} or "site-packages" in parts:
            continue
        n = sum(1 for _ in path.open(encoding="utf-8"))
        if n > 700:
            big.append(f"{path.relative_to(ROOT)}: {n} lines")
    assert big == [], "split these modules (STYLE.md): " + ", ".join(big)


def test_plugin_entry_modules_do_not_import_heavy_sdks():
    heavy = ("boto3", "oss2", "google.cloud", "dpdispatcher", "paramiko", "requests", "jsonschema")
    code = (
        "import importlib.metadata as m, sys\n"
        "for ep in m.entry_points(group='dflow'):\n"
        "    if ep.value.startswith('dflow_'): ep.load()\n"
        f"print(sorted(h for h in {heavy!r} if h in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

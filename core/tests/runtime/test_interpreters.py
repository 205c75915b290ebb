"""The pod runtime on every Python an image may have (3.7-3.13), with the standard library only.

Each interpreter runs isolated (``-I -S``) with nothing but the shipped runtime on its path:
every runtime module must import, and a set of OPs must run end to end through
``python -m dflow.runner`` (parameters of each type, artifacts, slices, groups, pools, success
tags, set_output on failure, exit codes, BigParameter, function OPs, client-only names).
"""

from __future__ import annotations

import json

import pytest
from dflow.runner.podimport import RUNTIME_MODULES
from runtime_scenarios import VERSIONS, interpreter, isolated, run_scenarios

IMPORT_ALL = """\
import importlib, json, sys
sys.path.insert(0, sys.argv.pop(1))
mods = json.loads(sys.argv[1])
for name in mods:
    importlib.import_module(name)
import dflow.python.typecheck as t, dflow.serialization as s
others = sorted(m for m in sys.modules if m.split(".")[0] == "dflow" and m not in mods)
try:  # a tuple needs jsonpickle, which this Python does not have: a clear error
    s.dump_value((1, 2))
    no_jsonpickle = False
except RuntimeError as e:
    no_jsonpickle = "needs jsonpickle" in str(e)
print(json.dumps([t.BACKEND, no_jsonpickle, others]))
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_pod_runtime_imports_and_runs_ops(version, runtime_packages, tmp_path):
    python = interpreter(version)
    proc = isolated(
        python, runtime_packages, json.dumps(RUNTIME_MODULES), cwd=tmp_path, code=IMPORT_ALL
    )
    assert proc.returncode == 0, proc.stderr
    backend, no_jsonpickle, others = json.loads(proc.stdout)
    assert (backend, no_jsonpickle, others) == ("stdlib", True, [])
    failures = run_scenarios(python, runtime_packages, tmp_path)
    assert not failures, f"{len(failures)} scenario(s) failed on {python}:\n\n" + "\n\n".join(
        failures
    )

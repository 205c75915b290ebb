"""The seed user guide's workflows: no validation error, and each runs on the local engine."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
from dflow.validation import problems_of

sys.path.insert(0, str(Path(__file__).parent))
from guide_workflows import BUILDERS


@pytest.fixture
def local(tmp_path, monkeypatch):
    from dflow.config import config

    saved = dict(config)
    config.update(mode="local", debug_workdir=str(tmp_path / "runs"), debug_pool_workers=2)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    config.clear()
    config.update(saved)


def test_every_guide_workflow_validates_and_runs(local):
    failures, ran = [], 0
    for build in BUILDERS:
        wf, phase, check = build()
        found = [f"{p.severity}: {p}" for p in problems_of(wf)]
        if found:
            failures.append(f"{build.__name__}: {found}")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning either: every type here is certain
            wf.submit()
        ran += 1
        if wf.query_status() != phase:
            failures.append(f"{build.__name__}: {wf.query_status()} (expected {phase})")
            continue
        try:
            check(wf)
        except AssertionError as exc:
            failures.append(f"{build.__name__}: {exc}")
    assert (ran, len(BUILDERS)) == (11, 11)
    assert failures == []

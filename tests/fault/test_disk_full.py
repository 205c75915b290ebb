"""A full disk stops the run with that reason, marks it Error, and leaves it resumable."""

from __future__ import annotations

import os
import subprocess

import pytest
from dflow import Step, Workflow
from dflow.python import PythonOPTemplate
from fault_ops import Count, Fill


@pytest.fixture
def small_disk(workdir):
    """``workdir/disk``: a 2 MB tmpfs (needs root; skipped, saying why, when mount refuses)."""
    disk = workdir / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    from dflow.config import config

    config["debug_workdir"] = str(disk)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_full_disk_stops_the_run_with_its_reason_and_it_resumes(small_disk):
    filler = small_disk / "filler"
    out = small_disk / "count"
    once = small_disk.parent / "filled-once"

    def build():
        wf = Workflow("full", id="full-1")
        fill = Step(
            "fill", PythonOPTemplate(Fill), parameters={"path": str(filler), "once": str(once)}
        )
        after = Step("after", PythonOPTemplate(Count))
        after.set_parameters({"x": fill.outputs.parameters["y"], "path": str(out), "delay": 0.0})
        wf.add(fill)
        wf.add(after)
        return wf

    wf = build()
    with pytest.raises(OSError) as err:
        wf.submit()
    journal = small_disk / "full-1" / "journal.db"
    assert str(err.value).startswith(f"no space left on device writing {journal}")
    assert "submit the workflow again with the same id to resume it" in str(err.value)
    assert "no transaction is active" not in str(err.value)
    assert wf.query_status() == "Error"
    assert wf.query().status.message == f"no space left on device writing {journal}"
    assert not out.exists()

    os.unlink(filler)  # space again: the same workflow resumes
    again = build()
    again.submit()
    assert again.query_status() == "Succeeded"
    assert out.read_text().split() == ["1"]

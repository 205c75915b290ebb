"""Hostile input reaching a workflow run: a ``.tgz`` input artifact that climbs out of the
workdir, ids and rendered keys that would become paths outside it."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest
from dflow import S3Artifact, Step, Workflow
from dflow.python import OP, OPIO, Artifact, OPIOSign, PythonOPTemplate

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostile_archives

pytestmark = pytest.mark.fault


class Count(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"data": Artifact(Path)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"n": int})

    def execute(self, op_in):
        return OPIO({"n": len(list(Path(op_in["data"]).rglob("*")))})


def _tgz(*members) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def test_a_tgz_input_that_climbs_out_fails_the_step_and_the_file_outside_is_intact(
    workdir, tmp_path
):
    from dflow.backends import get_storage_client

    victim = tmp_path / "victim.txt"  # next to the workdir, where `up` leads after the merge
    victim.write_text("keep")
    h = hostile_archives
    evil = tmp_path / "evil.tgz"
    evil.write_bytes(_tgz(h._dir("top"), h._link("top/up", ".."), h._file("top/ok.txt", b"fine")))
    # a second archive writing through a link that climbs two levels
    evil2 = tmp_path / "evil2.tgz"
    evil2.write_bytes(_tgz(h._dir("top"), h._link("top/up", "../.."), h._file("top/up/victim.txt")))
    client = get_storage_client()
    for name, path in (("evil.tgz", evil), ("evil2.tgz", evil2)):
        client.upload(f"hostile/{name}", str(path))
    wf = Workflow("hostile-tgz")
    wf.add(
        [
            Step(
                f"count{i}",
                PythonOPTemplate(Count),
                artifacts={"data": S3Artifact(key=f"hostile/{name}")},
            )
            for i, name in enumerate(("evil.tgz", "evil2.tgz"))
        ]
    )
    wf.submit()
    assert victim.read_text() == "keep"
    assert wf.query_status() in ("Failed", "Error")
    steps = {s.name.rpartition(".")[2]: s for s in wf.query_step()}
    assert {steps["count0"].phase, steps["count1"].phase} <= {"Failed", "Error"}
    first, second = steps["count0"].get("message", ""), steps["count1"].get("message", "")
    assert "archive 'hostile/evil.tgz': link 'top/up' -> '..'" in first
    assert "leads outside the artifact" in first
    assert "merged away" in first
    assert "member 'top/up' of 'hostile/evil2.tgz' (-> '../..') leads outside" in second
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "evil.tgz",
        "evil2.tgz",
        "victim.txt",
        "work",
    ]

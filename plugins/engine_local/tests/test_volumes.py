"""Artifacts passed through a shared volume (``.pvc()``) on the local engine: the run's
``volumes/<name>/`` directory, the reader's link, the producer's copy on success only, and
no script slot for a waiting reader. Both engines run the same pattern in
tests/test_conformance_parity.py."""

from __future__ import annotations

import os

from dflow import InputArtifact, OutputArtifact, OutputParameter, ShellOPTemplate, Step, Workflow
from dflow.config import config

WAIT = """n=0
until [ -e /tmp/foo ]; do
  n=$((n+1)); [ $n -gt {limit} ] && {{ echo gave up > /tmp/said; exit 0; }}; sleep 0.05
done
cat /tmp/foo > /tmp/said
"""


def _pair(write: str, limit: int = 600) -> tuple[Step, Step]:
    hello = ShellOPTemplate(name="hello", script=write)
    hello.outputs.artifacts = {"bar": OutputArtifact(path="/tmp/bar")}
    echo = ShellOPTemplate(name="echo", script=WAIT.format(limit=limit))
    echo.inputs.artifacts = {"foo": InputArtifact(path="/tmp/foo")}
    echo.outputs.parameters = {"said": OutputParameter(value_from_path="/tmp/said")}
    producer = Step("hello", hello)
    reader = Step("echo", echo, artifacts={"foo": producer.outputs.artifacts["bar"].pvc()})
    return producer, reader


def _said(wf: Workflow) -> str:
    return wf.query_step(name="echo")[0].outputs.parameters["said"].value


def test_a_waiting_reader_takes_no_script_slot(workdir):
    """One slot, the reader first: it must not keep its producer from starting."""
    config["debug_pool_workers"] = 1
    producer, reader = _pair("sleep 0.3; echo Hello > /tmp/bar")
    wf = Workflow("one-slot")
    wf.add([reader, producer])
    wf.submit()
    assert (wf.query_status(), _said(wf)) == ("Succeeded", "Hello")
    pvc = reader.inputs.artifacts["foo"].source
    volume = workdir / wf.id / "volumes" / "public" / pvc.subpath
    assert volume.read_text() == "Hello\n"
    link = workdir / wf.id / wf.query_step(name="echo")[0].id / "inputs" / "artifacts" / "foo"
    assert os.path.realpath(link) == str(volume)
    assert sorted(os.listdir(volume.parent)) == [pvc.subpath]  # no temporary copy left


def test_a_failed_producer_copies_nothing(workdir):
    producer, reader = _pair("echo Hello > /tmp/bar; exit 3", limit=20)
    wf = Workflow("failed")
    wf.add([producer, reader])
    wf.submit()
    assert (wf.query_status(), _said(wf)) == ("Failed", "gave up")
    assert not (workdir / wf.id / "volumes" / "public").exists()

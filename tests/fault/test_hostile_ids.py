"""Hostile workflow ids and rendered step keys never become paths outside the workdir."""

from __future__ import annotations

import os

import pytest
from dflow import Step, Workflow
from dflow.engine import BY_ID, Engine, InvalidWorkflowId
from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate

pytestmark = pytest.mark.fault

HOSTILE_IDS = (".", "..", "../x", "a/b", "/tmp", "", "x" * 254, "A", "a..b/..", "a\0b")


class Echo(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"v": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"v": str})

    def execute(self, op_in):
        return OPIO({"v": op_in["v"]})


def _echo_workflow(name: str) -> Workflow:
    wf = Workflow(name)
    wf.add(Step("echo", PythonOPTemplate(Echo), parameters={"v": "x"}))
    return wf


def test_workflow_id_given_to_the_constructor_is_checked():
    for bad in HOSTILE_IDS:
        with pytest.raises(ValueError, match="workflow id .* is invalid"):
            Workflow("wf", id=bad)


def test_the_local_engine_refuses_hostile_ids_everywhere_and_keeps_other_runs(workdir, tmp_path):
    from dflow_engine_local.engine import LocalEngine

    wf = _echo_workflow("keep")
    wf.submit()
    assert wf.query_status() == "Succeeded"
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("keep")
    engine = LocalEngine()
    refused = []
    for bad in HOSTILE_IDS:
        for method in ("delete", "query", "resubmit", "terminate", "logs", "wait"):
            try:
                getattr(engine, method)(bad)
            except InvalidWorkflowId as exc:
                refused.append(method)
                assert f"{method}()" in str(exc) and "workflow id" in str(exc)
        late = _echo_workflow("late")
        late.id = bad  # set after construction (the CLI's `submit -n`)
        with pytest.raises(InvalidWorkflowId, match="submit"):
            engine.submit(late)
    assert len(refused) == 6 * len(HOSTILE_IDS)
    assert os.listdir(workdir) == [wf.id] and (workdir / wf.id).is_dir()
    assert (tmp_path / "x" / "keep.txt").read_text() == "keep"
    assert sorted(os.listdir(tmp_path)) == ["work", "x"]


def test_the_cli_refuses_a_hostile_id(workdir, capsys):
    from dflow.cli import main

    wf = _echo_workflow("keep")
    wf.submit()
    assert main(["delete", "."]) == 1
    assert "workflow id '.' is invalid" in capsys.readouterr().err
    assert (workdir / wf.id).is_dir()


def test_every_engine_plugin_checks_ids_before_it_runs():
    class Mixin:  # a method an engine inherits from a helper class is checked too
        def logs(self, workflow_id, step_id=None):
            raise AssertionError("reached the engine")

    class Composed(Mixin, Engine):
        name = "composed"

        def submit(self, workflow, **kwargs):
            raise AssertionError("reached the engine")

        def query(self, workflow_id):
            raise AssertionError("reached the engine")

    from dflow_engine_argo.engine import ArgoEngine
    from dflow_engine_local.engine import LocalEngine

    for cls in (LocalEngine, ArgoEngine, Composed):
        engine = cls.__new__(cls)  # no configuration, no server: the check comes first
        for method in BY_ID:
            with pytest.raises(InvalidWorkflowId, match=f"{cls.name} engine, {method}"):
                getattr(engine, method)("../x")


def test_a_rendered_key_that_climbs_out_fails_its_step_on_the_local_engine(workdir, tmp_path):
    wf = Workflow("keys")
    wf.add(
        Step(
            "echo",
            PythonOPTemplate(Echo),
            parameters={"v": "{{item}}"},
            key="task-{{item}}",
            with_param=["ok", "../../escaped"],
            continue_on_failed=True,
        )
    )
    wf.submit()
    steps = {s.key: s for s in wf.query_step() if s.get("key")}
    assert steps["task-ok"].phase == "Succeeded"
    [bad] = [s for s in wf.query_step() if s.phase in ("Failed", "Error") and s.type == "Pod"]
    assert "step key 'task-../../escaped'" in bad.get("message", "")
    found = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*escaped*")]
    assert found == []


def test_the_pod_runner_refuses_a_rendered_key_that_is_not_a_name(tmp_path):
    from dflow.runner.core import run_op

    (tmp_path / "in" / "parameters").mkdir(parents=True)
    (tmp_path / "in" / "parameters" / "v").write_text("x")
    result = run_op(
        Echo,
        inputs_dir=tmp_path / "in",
        outputs_dir=tmp_path / "out",
        workdir=tmp_path,
        key="task-../../x",
    )
    assert not result.ok
    assert "step key 'task-../../x'" in result.message

"""lint() warns about a manifest larger than Kubernetes takes in one request (etcd's 1.5 MiB)."""

from __future__ import annotations

import warnings

import pytest
from dflow import Step, Workflow
from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate
from dflow_engine_argo.lint import MAX_REQUEST_BYTES, LintWarning


class Take(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"v": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"n": int})

    def execute(self, op_in):
        return OPIO({"n": len(op_in["v"])})


def _workflow(value_bytes: int) -> Workflow:
    wf = Workflow("big", engine="argo")
    wf.add(
        Step(
            "take", PythonOPTemplate(Take, image="python:3.11"), parameters={"v": "x" * value_bytes}
        )
    )
    return wf


def test_a_manifest_over_the_etcd_request_limit_warns_with_its_size():
    with pytest.warns(LintWarning, match=r"big.*the manifest is 1\.6\d MiB.*over the 1\.5 MiB"):
        issues = _workflow(MAX_REQUEST_BYTES + 100_000).lint()
    assert [i.severity for i in issues if "MiB" in i.message] == ["warning"]


def test_a_manifest_just_under_the_limit_does_not_warn():
    wf = _workflow(MAX_REQUEST_BYTES - 200_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LintWarning)
        issues = wf.lint()
    assert not [i for i in issues if i.severity == "warning"]

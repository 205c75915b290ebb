"""Credentials never reach an Argo manifest in plaintext: template envs, a DPDispatcher
executor's envs and a Slurm job script's envs that look like credentials are refused, with
how to pass them instead; references (Secret, secretKeyRef) pass."""

from __future__ import annotations

import json

import pytest
from dflow import Secret, ShellOPTemplate, Step, Workflow

pytestmark = pytest.mark.fault

pytest.importorskip("dflow_engine_argo")

SECRET = "s3cr3t-hunter2-value"
CREDENTIAL_ENVS = [
    {"AWS_SECRET_ACCESS_KEY": SECRET},
    {"API_KEY": SECRET},
    {"GITHUB_TOKEN": SECRET},
    {"DB_PASSWORD": SECRET},
    {"PLAIN_NAME": "-----BEGIN OPENSSH PRIVATE KEY-----\n" + SECRET},
    {"ID": "AKIAABCDEFGHIJKLMNOP"},
]


def _render(envs=None, executor=None) -> dict:
    from dflow_engine_argo.render import ArgoRenderer

    tmpl = ShellOPTemplate(name="job", image="alpine:3", script="echo hi", envs=envs)
    wf = Workflow("sec")
    wf.add(Step("run", tmpl, executor=executor))
    return ArgoRenderer(artifact_kind="s3").manifest(wf)


def _refused(make) -> list[str]:
    """The CREDENTIAL_ENVS that got into a manifest (with the reason when one leaked)."""
    through = []
    for envs in CREDENTIAL_ENVS:
        [(name, value)] = envs.items()
        try:
            manifest = make(envs)
        except ValueError as exc:
            text = str(exc)
            if name not in text or "docs/secrets.md" not in text or value in text:
                through.append(f"{name}: unclear or leaking message: {text[:200]}")
            continue
        leaked = value.splitlines()[-1] in json.dumps(manifest)
        through.append(f"{name}: rendered{' (value in the manifest)' if leaked else ''}")
    return through


def test_template_envs_that_look_like_credentials_are_refused():
    assert _refused(lambda envs: _render(envs)) == []


def test_secret_references_and_ordinary_envs_render():
    manifest = _render(
        {
            "AWS_SECRET_ACCESS_KEY": Secret(SECRET),
            "TOKEN_FROM": Secret(name="existing", key="token"),
            "OMP_NUM_THREADS": "4",
            "SSH_PUBLIC_KEY": "ssh-ed25519 AAAA",
        }
    )
    text = json.dumps(manifest)
    assert SECRET not in text
    [tmpl] = [t for t in manifest["spec"]["templates"] if t["name"] == "job"]
    env = {e["name"]: e for e in tmpl["script"]["env"]}
    assert env["TOKEN_FROM"]["valueFrom"] == {"secretKeyRef": {"name": "existing", "key": "token"}}
    assert env["OMP_NUM_THREADS"]["value"] == "4"


def test_dispatcher_executor_envs_are_refused():
    pytest.importorskip("dflow_executor_dispatcher")
    from dflow_executor_dispatcher import DispatcherExecutor

    def make(envs):
        machine = {"batch_type": "Shell", "context_type": "LocalContext", "remote_root": "/r"}
        return _render(executor=DispatcherExecutor(machine_dict=machine, envs=envs))

    assert _refused(make) == []
    assert "OMP_NUM_THREADS" in json.dumps(make({"OMP_NUM_THREADS": "4"}))


def test_slurm_job_template_envs_are_refused():
    pytest.importorskip("dflow_executor_slurm")
    from dflow_executor_slurm import SlurmJobTemplate

    def make(envs):
        return _render(
            envs,
            executor=SlurmJobTemplate(
                header="#!/bin/sh\n#SBATCH -N 1",
                node_selector={"kubernetes.io/hostname": "slurm-cpu"},
            ),
        )

    assert _refused(make) == []

"""The plugin's entry module registers both executors; factories build them from config."""

from __future__ import annotations

import importlib.metadata

from dflow_executor_slurm import SlurmJob, SlurmJobTemplate, SlurmRemoteExecutor
from dflow_executor_slurm.config import SlurmConfig, SlurmRemoteConfig
from dflow_executor_slurm.plugin import dflow_executors


def test_entry_point_is_declared():
    (entry,) = [
        ep for ep in importlib.metadata.entry_points(group="dflow") if ep.name == "executor-slurm"
    ]
    assert entry.value == "dflow_executor_slurm.plugin"


def test_records_and_factories():
    records = {record.name: record for record in dflow_executors()}
    assert set(records) == {"slurm", "slurm-remote"}

    slurm = records["slurm"].build(SlurmConfig(header="#SBATCH -N 1"))
    assert isinstance(slurm, SlurmJobTemplate) and slurm.header == "#SBATCH -N 1"
    assert records["slurm"].factory(header="x").header == "x"

    remote = records["slurm-remote"].build(SlurmRemoteConfig(host="login", password="pw"))
    assert isinstance(remote, SlurmRemoteExecutor)
    assert (remote.host, remote.port, remote.interval) == ("login", 22, 3)
    assert "pw" not in repr(SlurmRemoteConfig(host="login", password="pw"))


def test_pydflow_signatures():
    job = SlurmJob(header="#SBATCH -N 1", node_selector={"k": "v"}, workdir="w")
    assert (job.header, job.node_selector, job.workdir, job.map_tmp_dir) == (
        "#SBATCH -N 1",
        {"k": "v"},
        "w",
        True,
    )
    template = SlurmJobTemplate(header="h", node_selector={"a": "b"}, prepare_image="img")
    assert template.workdir == "dflow/workflows/{{workflow.name}}/{{pod.name}}"
    remote = SlurmRemoteExecutor("host", username="u", header="h", interval=5, pvc="p")
    assert (remote.port, remote.workdir, remote.interval, remote.pvc) == (
        22,
        "~/dflow/workflows/{{workflow.name}}/{{pod.name}}",
        5,
        "p",
    )

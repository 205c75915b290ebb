"""``SlurmJob``: a Slurm job as a Kubernetes resource of the wlm-operator (Argo only)."""

from __future__ import annotations


class SlurmJob:
    """A ``wlm.sylabs.io/v1alpha1`` SlurmJob resource for ``Step(use_resource=...)`` (pydflow's
    signature). Only meaningful on Argo with the wlm-operator; on the local engine use
    :class:`~dflow_executor_slurm.SlurmJobTemplate` as the step's executor instead.
    """

    action = "create"
    success_condition = "status.status == Succeeded"
    failure_condition = "status.status == Failed"

    def __init__(
        self,
        header: str = "",
        node_selector: dict[str, str] | None = None,
        prepare: dict | None = None,
        results: dict | None = None,
        map_tmp_dir: bool = True,
        workdir: str = ".",
        remote_command: list[str] | str | None = None,
        docker_executable: str | None = None,
        singularity_executable: str | None = None,
        podman_executable: str | None = None,
    ) -> None:
        self.header = header
        self.node_selector = node_selector
        self.prepare = prepare
        self.results = results
        self.map_tmp_dir = map_tmp_dir
        self.workdir = workdir
        self.remote_command = remote_command
        self.docker_executable = docker_executable
        self.singularity_executable = singularity_executable
        self.podman_executable = podman_executable

    def get_manifest(self, template):
        """The SlurmJob manifest (YAML text) running script template ``template``."""
        from .argo import slurm_job_manifest

        return slurm_job_manifest(self, template)

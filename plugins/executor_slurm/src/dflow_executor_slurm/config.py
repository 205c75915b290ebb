"""Configuration sections for the executors, so a config file can name a default executor."""

from __future__ import annotations

import attrs


@attrs.frozen
class SlurmConfig:
    """``[executors.slurm]``: arguments of :class:`~dflow_executor_slurm.SlurmJobTemplate`."""

    header: str = ""
    node_selector: dict[str, str] | None = None
    prepare_image: str | None = None
    prepare_image_pull_policy: str | None = None
    collect_image: str | None = None
    collect_image_pull_policy: str | None = None
    workdir: str = "dflow/workflows/{{workflow.name}}/{{pod.name}}"
    remote_command: list[str] | str | None = None
    docker_executable: str | None = None
    singularity_executable: str | None = None
    podman_executable: str | None = None


@attrs.frozen
class SlurmRemoteConfig:
    """``[executors.slurm-remote]``: arguments of :class:`~dflow_executor_slurm.SlurmRemoteExecutor`.

    Prefer ``private_key_file`` to ``password`` in a config file.
    """

    host: str
    port: int = 22
    username: str = "root"
    password: str | None = attrs.field(default=None, repr=False)
    private_key_file: str | None = None
    workdir: str = "~/dflow/workflows/{{workflow.name}}/{{pod.name}}"
    command: list[str] | str | None = None
    remote_command: list[str] | str | None = None
    image: str | None = None
    image_pull_policy: str | None = None
    map_tmp_dir: bool = True
    docker_executable: str | None = None
    singularity_executable: str | None = None
    podman_executable: str | None = None
    action_retries: int = -1
    header: str = ""
    interval: int = 3

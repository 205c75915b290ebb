"""Configuration section for the dispatcher executor (``[executors.dispatcher]``)."""

from __future__ import annotations

import attrs


@attrs.frozen
class DispatcherConfig:
    """Arguments of :class:`~dflow_executor_dispatcher.DispatcherExecutor` from a config file.

    Prefer ``private_key_file`` to ``password`` in a config file.
    """

    host: str | None = None
    queue_name: str | None = None
    port: int = 22
    username: str = "root"
    password: str | None = attrs.field(default=None, repr=False)
    private_key_file: str | None = None
    image: str | None = None
    image_pull_policy: str | None = None
    command: str = "python3"
    remote_command: str | None = None
    map_tmp_dir: bool = True
    machine_dict: dict | None = None
    resources_dict: dict | None = None
    task_dict: dict | None = None
    json_file: str | None = None
    docker_executable: str | None = None
    singularity_executable: str | None = None
    container_args: str = ""
    podman_executable: str | None = None
    remote_root: str | None = None
    retry_on_submission_error: int | None = None
    merge_sliced_step: bool = False
    pre_script: str = ""
    post_script: str = ""
    clean: bool = True
    remove_scheduling_strategies: bool = True
    envs: dict[str, str] | None = None
    merge_bohrium_job_group: bool = False
    terminate_grace_period: int | None = None

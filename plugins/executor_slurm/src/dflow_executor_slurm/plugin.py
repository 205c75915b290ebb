"""Entry point of dflow-executor-slurm: registers the "slurm" and "slurm-remote" executors.

Light on purpose: the executor modules (and paramiko) are imported when an executor is built.
"""

from __future__ import annotations

from typing import Any

import attrs
from dflow import hookimpl
from dflow.plugins.records import ExecutorRecord

from .config import SlurmConfig, SlurmRemoteConfig


def _from_config(kwargs: dict[str, Any], config: object | None) -> dict[str, Any]:
    # factory(config) builds the config file's default; factory(**kwargs) a user's own
    return {**attrs.asdict(config, recurse=False), **kwargs} if config is not None else kwargs


def make_slurm(config: SlurmConfig | None = None, /, **kwargs: Any):  # noqa: ANN201
    """Build a :class:`~dflow_executor_slurm.SlurmJobTemplate`."""
    from .local import SlurmJobTemplate

    return SlurmJobTemplate(**_from_config(kwargs, config))


def make_slurm_remote(config: SlurmRemoteConfig | None = None, /, **kwargs: Any):  # noqa: ANN201
    """Build a :class:`~dflow_executor_slurm.SlurmRemoteExecutor`."""
    from .remote import SlurmRemoteExecutor

    return SlurmRemoteExecutor(**_from_config(kwargs, config))


@hookimpl
def dflow_executors() -> list[ExecutorRecord]:
    return [
        ExecutorRecord(
            name="slurm",
            factory=make_slurm,
            config_type=SlurmConfig,
            description="run script steps as Slurm jobs submitted with sbatch on this machine",
        ),
        ExecutorRecord(
            name="slurm-remote",
            factory=make_slurm_remote,
            config_type=SlurmRemoteConfig,
            description="run script steps as Slurm jobs on a login node over SSH",
        ),
    ]

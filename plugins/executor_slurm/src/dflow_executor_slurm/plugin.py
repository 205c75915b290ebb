"""Entry point of dflow-executor-slurm: registers the "slurm" and "slurm-remote" executors.

Light on purpose: the executor modules (and paramiko) are imported when an executor is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dflow import hookimpl
from dflow.plugins.records import ExecutorRecord

from .config import SlurmConfig, SlurmRemoteConfig

if TYPE_CHECKING:
    from .local import SlurmJobTemplate
    from .remote import SlurmRemoteExecutor


def make_slurm(**kwargs: Any) -> SlurmJobTemplate:
    """Build a :class:`~dflow_executor_slurm.SlurmJobTemplate` (keywords: the user's, or the
    fields of the ``[executors.slurm]`` section)."""
    from .local import SlurmJobTemplate

    return SlurmJobTemplate(**kwargs)


def make_slurm_remote(**kwargs: Any) -> SlurmRemoteExecutor:
    """Build a :class:`~dflow_executor_slurm.SlurmRemoteExecutor` (keywords: the user's, or
    the fields of the ``[executors.slurm-remote]`` section)."""
    from .remote import SlurmRemoteExecutor

    return SlurmRemoteExecutor(**kwargs)


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

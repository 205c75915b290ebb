"""dflow executors for Slurm: ``SlurmJobTemplate`` (local sbatch), ``SlurmRemoteExecutor``
(sbatch over SSH) and ``SlurmJob`` (wlm-operator resource, Argo)."""

from __future__ import annotations

from .local import SlurmJobTemplate
from .remote import SlurmRemoteExecutor
from .resource import SlurmJob

__all__ = ["SlurmJob", "SlurmJobTemplate", "SlurmRemoteExecutor"]

"""dflow executors for Slurm: ``SlurmJobTemplate`` (local sbatch), ``SlurmRemoteExecutor``
(sbatch over SSH) and ``SlurmJob`` (wlm-operator resource, Argo)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dflow.plugins import lazy_exports

if TYPE_CHECKING:
    from .local import SlurmJobTemplate
    from .remote import SlurmRemoteExecutor
    from .resource import SlurmJob

__all__ = ["SlurmJob", "SlurmJobTemplate", "SlurmRemoteExecutor"]
# the plugin's entry point imports this package in every dflow run: the names load on use
__getattr__ = lazy_exports(
    __name__,
    {
        "SlurmJob": ".resource",
        "SlurmJobTemplate": ".local",
        "SlurmRemoteExecutor": ".remote",
    },
)

"""pydflow's ``dflow.slurm``: now the ``dflow-executor-slurm`` plugin.

``from dflow.slurm import SlurmJobTemplate`` imports the plugin's class, or raises ImportError
saying what to install.
"""

from __future__ import annotations

from ._compat import module_getattr

_PLUGIN = ("dflow_executor_slurm", "dflow-executor-slurm")
__getattr__ = module_getattr(
    __name__,
    plugins={n: _PLUGIN for n in ("SlurmJob", "SlurmJobTemplate", "SlurmRemoteExecutor")},
)

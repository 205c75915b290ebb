"""pydflow's ``dflow.slurm``: now the ``dflow-executor-slurm`` plugin.

``from dflow.slurm import SlurmJobTemplate`` imports the plugin's class, or raises ImportError
saying what to install.
"""

from __future__ import annotations

from ._compat import module_getattr, plugin_names

__getattr__ = module_getattr(__name__, plugins=plugin_names("dflow_executor_slurm"))

"""pydflow's ``dflow.util_ops`` (the helper OPs it inserted into workflows): not provided."""

from __future__ import annotations

from ._compat import module_getattr

_INSTEAD = (
    "dflow inserts no helper OPs: the engines stack sliced outputs and check "
    "continue_on_num_success/continue_on_success_ratio themselves"
)
__getattr__ = module_getattr(
    __name__,
    refused={
        n: _INSTEAD for n in ("CheckNumSuccess", "CheckSuccessRatio", "InitArtifactForSlices")
    },
)

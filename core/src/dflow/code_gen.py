"""pydflow's ``dflow.code_gen`` (graph JSON -> Python source): not provided."""

from __future__ import annotations

from ._compat import module_getattr

_INSTEAD = (
    "dflow has no graph format to generate code from; write the workflow in Python, or keep "
    "its Argo manifest (Workflow.to_yaml() / Workflow.from_yaml())"
)
__getattr__ = module_getattr(__name__, refused={"CodeGenerator": _INSTEAD, "gen_code": _INSTEAD})

"""pydflow import path `dflow.step` (the code lives in `dflow.model.step`)."""

from .model.step import (
    HookStep,
    Step,
)

__all__ = [
    "Step",
    "HookStep",
]

from .model.helpers import (
    argo_concat,
    argo_enumerate,
    argo_len,
    argo_range,
    argo_sequence,
    argo_sum,
)

__all__ += ["argo_concat", "argo_enumerate", "argo_len", "argo_range", "argo_sequence", "argo_sum"]

from .model.helpers import (  # noqa: E402
    ArgoConcat,
    ArgoEnumerate,
    ArgoLen,
    ArgoRange,
    ArgoSequence,
    ArgoSum,
)

__all__ += ["ArgoConcat", "ArgoEnumerate", "ArgoLen", "ArgoRange", "ArgoSequence", "ArgoSum"]

from ._compat import module_getattr  # noqa: E402

# pydflow's debug engine lived in this module; its pieces have no counterpart to import
_ENGINE = "the local engine runs steps (dflow-engine-local); its internals are not public"
_EXPRESSIONS = (
    "expressions are evaluated with dflow.expressions (evaluate/render), the same on both engines"
)
__getattr__ = module_getattr(
    __name__,
    refused={
        "add_slices": "Slices are applied by the engines; give Step(slices=...) or the template's",
        "backup": _ENGINE,
        "download_artifact_debug": "use dflow.download_artifact",
        "download_with_lock": "use dflow.download_artifact",
        "eval_expr": _EXPRESSIONS,
        "expression": _EXPRESSIONS,
        "get_var": _EXPRESSIONS,
        "render_expr": _EXPRESSIONS,
        "render_item": _EXPRESSIONS,
        "render_script": _ENGINE,
        "replace_argo_func": _EXPRESSIONS,
        "untar": "use dflow.download_artifact, which extracts archives",
        "upload_python_packages": "packages listed in python_packages / upload_packages are "
        "shipped by the engine that runs the step",
        "uploaded_python_packages": "packages are shipped per run; nothing is cached globally",
    },
)

"""pydflow's ``dflow.python.utils`` (helpers of its generated OP scripts): not provided.

One OP runner (:mod:`dflow.runner`) reads inputs and writes outputs for every engine.
"""

from __future__ import annotations

from .._compat import module_getattr

_RUNNER = (
    "the OP runner (dflow.runner.run_op, `python -m dflow.runner`) reads an OP's inputs and "
    "writes its outputs on every engine; call OP.execute() with an OPIO to run an OP directly"
)
_NAMES = (
    "absolutize",
    "absolutize_hdf5",
    "copy_results",
    "copy_results_and_return_path_item",
    "get_input_slices",
    "get_slices",
    "handle_empty_dir",
    "handle_input_artifact",
    "handle_input_parameter",
    "handle_lineage",
    "handle_output_artifact",
    "handle_output_parameter",
    "path_or_none",
    "sigalrm_handler",
    "slice_to_dir",
    "try_to_execute",
)
__getattr__ = module_getattr(__name__, refused={n: _RUNNER for n in _NAMES})

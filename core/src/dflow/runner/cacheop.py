"""Keying a Python OP where it cannot be imported: the pod of an executor step (docs/cache.md).

An executor's pod (DPDispatcher's image) only submits the step's job: it need not have the
OP's dependencies, so it cannot import the OP to key it. What the key takes from the OP is
small: its name, its source digest and, per input, how the runner reads it (a parameter's
text decoded or not, an artifact's shape). :func:`describe` computes that where the workflow
is rendered (the OP is at hand there) and the renderer puts it in the step's cache spec as
``op``; :func:`probe_main`, in the pod, keys the step with a stand-in OP of that description
through the runner's own :func:`~dflow.runner.core.probe_cache`, so the pod, the job's runner
and a local worker compute one key. The job's runner ignores ``op``: it has the OP.

On a miss the pod saves its lookup (``DFLOW_CACHE_STATE``: a directory), and the pod that
brings the job's outputs back stores them under that key (:func:`store_main`): the job then
runs without the cache, so the HPC side needs neither the cache directory nor credentials.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Dict, List, Set

from ..python.op import OP, make_instance
from ..python.opio import (
    OPIO,
    Artifact,
    NestedDictPath,
    OPIOSign,
    Parameter,
    artifact_has_hdf5,
    artifact_shape,
    sign_type,
)
from ..serialization import load_value

#: the exit status of :func:`probe_main` when the cache holds no sound entry of the step
MISSED = 10
#: the exit status when the step cannot be keyed here (no description of its OP)
NOT_KEYED = 11
#: the environment variable naming the directory where a miss saves its lookup
STATE_ENV = "DFLOW_CACHE_STATE"

_SHAPES: dict[str, Any] = {
    "path": Path,
    "list": List[Path],
    "set": Set[Path],
    "dict": Dict[str, Path],
    "nested": NestedDictPath,
}


def describe(op: Any, op_file: str | None = None) -> dict[str, Any] | None:
    """What the key takes from ``op`` (a class, instance or function OP): ``name``,
    ``source`` and ``inputs`` (``[name, how]`` pairs); None when it cannot be keyed
    without importing it (no source, or an HDF5 artifact, whose reading needs h5py).
    ``op_file``: the file shipped for a job that loads the OP from it (``--op-file``), whose
    bytes the job keys it by (:func:`.cache.shipped_op_identity`)."""
    from .cache import op_identity, shipped_op_identity

    instance = make_instance(op)
    cls = type(instance)
    source: str | None
    if op_file is not None:
        op_name, source = shipped_op_identity(cls.__qualname__, Path(op_file).read_bytes())
    else:
        op_name, source = op_identity(cls)
    if source is None:
        return None
    inputs = []
    for name, sign in instance.get_input_sign().items():
        if isinstance(sign, Artifact):
            shape = artifact_shape(sign.type)
            if shape not in _SHAPES or artifact_has_hdf5(sign.type):
                return None
            inputs.append([name, "artifact:" + shape])
        else:
            # the runner decodes a parameter's text unless its type is a string: ask it how
            decoded = load_value("1", sign_type(sign)) != "1"
            inputs.append([name, "json" if decoded else "text"])
    return {"name": op_name, "source": source, "inputs": inputs}


def stand_in(desc: dict[str, Any]) -> type[OP]:
    """An OP class whose input sign is read as the described OP's: it never runs."""
    sign: dict[str, Any] = {}
    for name, how in desc["inputs"]:
        if how.startswith("artifact:"):
            sign[name] = Artifact(_SHAPES[how[len("artifact:") :]])
        else:
            sign[name] = Parameter(str if how == "text" else object)
    module, _, qualname = desc["name"].rpartition(".")

    class StandIn(OP):
        @classmethod
        def get_input_sign(cls) -> OPIOSign:
            return OPIOSign(sign)

        @classmethod
        def get_output_sign(cls) -> OPIOSign:
            return OPIOSign({})

        def execute(self, op_in: OPIO) -> OPIO:
            raise RuntimeError(f"the stand-in of OP {desc['name']} only keys it; it never runs")

    StandIn.__module__, StandIn.__qualname__ = module, qualname
    return StandIn


def probe_main(argv: Sequence[str]) -> int:
    """``python -m dflow.runner`` arguments, in an executor's pod before it submits the job:
    key the step as the job's runner would and restore a sound entry's outputs; 0 when they
    were restored (submit nothing), :data:`MISSED` or :data:`NOT_KEYED` otherwise."""
    from ..python.slices import Slices
    from .__main__ import _json, _parser
    from .cache import CacheSpec, note
    from .core import probe_cache

    args = _parser().parse_args(list(argv))
    data = json.loads(args.cache) if args.cache else {}
    desc = data.get("op") if isinstance(data, dict) else None
    if not isinstance(desc, dict):
        return NOT_KEYED
    spec = CacheSpec.from_json(args.cache)
    slices_args = _json(args.slices, "slices")
    found = probe_cache(
        stand_in(desc),
        spec,
        inputs_dir=args.inputs,
        outputs_dir=args.outputs,
        workdir=args.workdir,
        slices=Slices(**slices_args) if isinstance(slices_args, dict) else None,
        slice_index=_json(args.slice_index, "slice-index"),
        parameters_dir=args.parameters,
        probe=False,  # the step's own check: a damaged entry is noted and discarded
        source=desc["source"],
    )
    if found is None:
        note("the pod cannot read the step's inputs to key it: the job checks")
        return NOT_KEYED
    if not found.reused:
        if os.environ.get(STATE_ENV):  # the pod that brings the outputs back stores them
            from .scriptcache import save_lookup

            save_lookup(found, os.environ[STATE_ENV])
        return MISSED
    if args.success_tag:  # as run_op writes it for a run that succeeded
        os.makedirs(args.outputs, exist_ok=True)
        with open(os.path.join(args.outputs, "success_tag"), "w") as f:
            f.write("true")
    return 0


def store_outputs(state_dir: str, outputs_dir: str, ok: bool) -> None:
    """In the pod that brought a job's outputs back to ``outputs_dir``: store them under the
    key :func:`probe_main` saved in ``state_dir`` when the job succeeded (``ok``, and its
    success tag, if any, says true); the run is recorded for ``dflow explain`` either way.
    Nothing without a saved lookup (the pod did not key the step: the job's runner did)."""
    from .cache import store
    from .scriptcache import saved_lookup

    lk = saved_lookup(state_dir) if state_dir else None
    if lk is None:
        return
    # the tag is the job's verdict on its slices, not an output of the OP: kept out of the
    # entry (a hit writes it as run_op does)
    tag = os.path.join(outputs_dir, "success_tag")
    aside = outputs_dir.rstrip("/") + ".dflow-success-tag"
    if os.path.exists(tag):
        with open(tag, encoding="utf-8") as f:
            ok = ok and f.read().strip() == "true"
        os.replace(tag, aside)
    try:
        store(lk, outputs_dir, ok)
    finally:
        if os.path.exists(aside):
            os.replace(aside, tag)


def store_main(argv: Sequence[str], ok: bool) -> int:
    """``python -m dflow.runner`` arguments, in a DPDispatcher pod after the job:
    :func:`store_outputs` of ``--outputs`` with the lookup saved in ``DFLOW_CACHE_STATE``."""
    from .__main__ import _parser

    args = _parser().parse_args(list(argv))
    store_outputs(os.environ.get(STATE_ENV, ""), args.outputs, ok)
    return 0

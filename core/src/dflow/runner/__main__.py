"""``python -m dflow.runner``: run one Python OP (what Argo containers and HPC jobs call).

Exits with the ``OPResult`` exit code (0 ok, 1 transient, 2 fatal, 3 any other error) and
prints the failure message to stderr. Runs on Python 3.7+ with the pod runtime alone; names of
client-side dflow that the OP's module uses resolve as :mod:`dflow.runner.podimport` says.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dflow.runner", description=__doc__)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--op", help="the OP as module:qualname (imported)")
    which.add_argument("--op-file", help="the OP as path/to/script.py:qualname")
    p.add_argument("--inputs", required=True, help="inputs dir (parameters/, artifacts/)")
    p.add_argument("--parameters", help="input parameters dir (default: <inputs>/parameters)")
    p.add_argument("--outputs", required=True, help="outputs dir (written)")
    p.add_argument("--workdir", required=True, help="working directory of the OP")
    p.add_argument("--slice-index", help="JSON: an int, or a list of ints for a group")
    p.add_argument("--slices", help="JSON object of Slices(...) arguments")
    p.add_argument("--success-tag", action="store_true", help="write outputs/success_tag")
    p.add_argument("--key", help="the step's key")
    p.add_argument("--workflow-name", help="the workflow's name")
    p.add_argument("--progress-file", help="progress file (default: $ARGO_PROGRESS_FILE)")
    p.add_argument("--input-types", help="JSON object: parameter name -> type name override")
    p.add_argument("--cache", help="JSON: the step cache to use (dflow.runner.cache.CacheSpec)")
    p.add_argument("--sys-path", action="append", default=[], help="dir prepended to sys.path")
    return p


def _json(text: str | None, what: str) -> object:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SystemExit(f"dflow.runner: --{what} is not valid JSON ({exc}): {text!r}")


_TYPE_NAMES = {"int": int, "float": float, "str": str, "bool": bool, "dict": dict, "list": list}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for entry in reversed(args.sys_path):
        sys.path.insert(0, entry)
    from . import podimport

    podimport.install()  # client-only dflow names in the OP's module become placeholders
    from ..python.slices import Slices
    from . import load_op_file, locate_op, run_op

    slices_args = _json(args.slices, "slices")
    if slices_args is not None and not isinstance(slices_args, dict):
        raise SystemExit("dflow.runner: --slices must be a JSON object of Slices arguments")
    input_types = _json(args.input_types, "input-types") or {}
    if not isinstance(input_types, dict):
        raise SystemExit("dflow.runner: --input-types must be a JSON object of type names")
    cache = None
    if args.cache:
        from .cache import CacheSpec

        try:
            cache = CacheSpec.from_json(args.cache)
        except (ValueError, TypeError) as exc:
            raise SystemExit(f"dflow.runner: --cache: {exc}: {args.cache}")
    try:
        op = locate_op(args.op) if args.op else load_op_file(args.op_file)
        slices = Slices(**slices_args) if slices_args is not None else None
    except Exception as exc:
        traceback.print_exc()
        print(f"dflow.runner: cannot load the OP: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    result = run_op(
        op,
        inputs_dir=args.inputs,
        outputs_dir=args.outputs,
        workdir=args.workdir,
        slices=slices,
        slice_index=_json(args.slice_index, "slice-index"),
        key=args.key,
        workflow_name=args.workflow_name,
        progress_file=args.progress_file,
        success_tag=args.success_tag,
        input_types={k: _TYPE_NAMES.get(v, v) for k, v in input_types.items()},
        parameters_dir=args.parameters,
        cache=cache,
    )
    if not result.ok:
        if result.traceback:
            print(result.traceback, file=sys.stderr, end="")
        print(result.message, file=sys.stderr)
    elif result.message:  # e.g. slices tolerated by a success tag
        print(result.message, file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())

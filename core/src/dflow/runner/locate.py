"""Find the OP a runner command names: ``module:qualname`` or ``path/to/script.py:qualname``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any


def module_path(name: str) -> str | None:
    """The file (single module) or directory (package) of importable module ``name``; None
    for a built-in, frozen or compiled one."""
    mod = sys.modules.get(name)
    origin = getattr(mod, "__file__", None) if mod is not None else None
    if origin is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        origin = spec.origin if spec is not None else None
    if not origin or origin in ("built-in", "frozen"):
        return None
    if os.path.basename(origin) == "__init__.py":
        return os.path.dirname(origin)
    return origin if origin.endswith(".py") else None


def named_otherwise(module: str) -> bool:
    """Whether ``module``'s top-level module came from a file (or package directory) of
    another name (``spec_from_file_location`` under a chosen name): it cannot be imported by
    its name elsewhere, so a pod loads it from the shipped file and the step cache keys it
    by that file (:func:`.cache.op_identity`)."""
    top = module.split(".")[0]
    path = module_path(top)
    if path is None:
        return False
    stem = os.path.basename(path.rstrip("/"))
    return (stem[:-3] if stem.endswith(".py") else stem) != top


def _attr(obj: Any, qualname: str, where: str) -> Any:
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise LookupError(f"{where} has no attribute '{qualname}' (missing '{part}')") from None
    return obj


def _split(spec: str, what: str) -> tuple[str, str]:
    target, sep, qualname = spec.rpartition(":")
    if not sep or not target or not qualname:
        raise ValueError(f"{what} must look like '<{what}>:<qualname>', got '{spec}'")
    return target, qualname


def locate_op(spec: str) -> Any:
    """The object named ``module:qualname`` (imported; the module is cached by Python)."""
    module_name, qualname = _split(spec, "module")
    module = importlib.import_module(module_name)
    return _attr(module, qualname, f"module '{module_name}'")


#: module name -> sha256 of the bytes of each OP file loaded in this process; the step
#: cache keys their OPs by it (:func:`.cache.op_identity`), not by the module's name
OP_FILES: dict[str, str] = {}


def op_file_module(file_name: str, data: bytes) -> str:
    """The module name of an OP file (:func:`load_op_file`) of that name and contents.

    Not its path: a job's work directory (so the file's path) is new per submission, and a
    pool pickles the file's OPs by reference to this name."""
    stem = Path(file_name).stem.replace("-", "_")
    return f"dflow_op_file_{stem}_{hashlib.sha1(data).hexdigest()[:8]}"


def load_op_file(spec: str) -> Any:
    """The object ``qualname`` defined in the Python file of ``path.py:qualname``.

    The file is imported as a module named ``dflow_op_file_<stem>_<hash of its bytes>``, not
    ``__main__``, so its ``if __name__ == "__main__":`` block does not run. Its other top-level statements
    do: for an OP of a script the engines ship the selection of the script's code made by
    :mod:`dflow.shipping.mainsource` (no workflow code), not the script. Its own relative
    imports fail since it is not part of a package; its directory is put on ``sys.path``.
    """
    path_text, qualname = _split(spec, "file")
    path = Path(path_text).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"OP file '{path_text}' does not exist")
    data = path.read_bytes()
    name = op_file_module(path.name, data)
    OP_FILES.setdefault(name, hashlib.sha256(data).hexdigest())
    module = sys.modules.get(name)
    if module is None:
        spec_obj = importlib.util.spec_from_file_location(name, path)
        if spec_obj is None or spec_obj.loader is None:
            raise ImportError(f"cannot import OP file '{path}'")
        module = importlib.util.module_from_spec(spec_obj)
        # registered before running it: pickling its OPs by reference (pools) needs the name
        sys.modules[name] = module
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        try:
            spec_obj.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return _attr(module, qualname, f"OP file '{path}'")

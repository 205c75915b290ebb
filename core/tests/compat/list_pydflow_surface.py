"""Regenerate ``pydflow_surface.json``: every module and public name of pydflow 1.8.134.

Run it with pydflow's own interpreter (a black-box listing; no pydflow code is copied)::

    /work/ref/pydflow-venv/bin/python core/tests/compat/list_pydflow_surface.py

A module's public names are its ``__all__`` when it has one, plus, for every module, the
non-underscore names its top level binds with ``def``/``class``/assignment, plus, for a package,
the names it imports from its own submodules (``from .common import import_func``). Names a
module merely imports from elsewhere (``os``, ``Path``...) are not part of its surface.
``dflow.client`` (generated Argo SDK models) is left out: scripts do not import it.

Each name is recorded with its kind: ``class``, ``function`` (any other callable), ``module``
or ``value``, from the imported object, or from the source when the module does not import
(a missing optional dependency).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import pkgutil
import sys
from pathlib import Path

OUT = Path(__file__).with_name("pydflow_surface.json")


def _bound(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AnnAssign):
        targets = [node.target]
    names = []
    for t in targets:
        elts = t.elts if isinstance(t, ast.Tuple) else [t]
        names += [e.id for e in elts if isinstance(e, ast.Name)]
    return names


def _kind(obj: object) -> str:
    if inspect.isclass(obj):
        return "class"
    if inspect.ismodule(obj):
        return "module"
    return "function" if callable(obj) else "value"


def module_names(name: str) -> dict[str, str]:
    spec = importlib.util.find_spec(name)
    tree = ast.parse(Path(spec.origin).read_text())
    is_package = spec.submodule_search_locations is not None
    names: dict[str, str] = {}
    for node in tree.body:
        source_kind = (
            "class"
            if isinstance(node, ast.ClassDef)
            else "function"
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            else "value"
        )
        for bound in _bound(node):
            if bound == "__all__":
                names.update(dict.fromkeys(ast.literal_eval(node.value), "value"))
            elif not bound.startswith("_"):
                names[bound] = source_kind
        if is_package and isinstance(node, ast.ImportFrom) and node.level > 0:
            names.update(
                dict.fromkeys(
                    (a.asname or a.name for a in node.names if not a.name.startswith("_")), "value"
                )
            )
    try:
        module = importlib.import_module(name)
    except ImportError:
        return dict(sorted(names.items()))
    return {
        n: _kind(getattr(module, n)) if hasattr(module, n) else k for n, k in sorted(names.items())
    }


def main() -> int:
    import dflow

    surface = {"dflow": module_names("dflow")}
    for info in pkgutil.walk_packages(dflow.__path__, "dflow."):
        if info.name.startswith("dflow.client") or info.name == "dflow.__main__":
            continue  # __main__ runs the command line when imported
        surface[info.name] = module_names(info.name)
    version = importlib.metadata.version("pydflow")
    OUT.write_text(json.dumps({"pydflow": version, "modules": surface}, indent=1) + "\n")
    total = sum(len(v) for v in surface.values())
    print(f"{OUT}: {len(surface)} modules, {total} names (pydflow {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

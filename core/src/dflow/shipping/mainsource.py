"""The code of an OP defined in ``__main__`` (a script or a Jupyter notebook), to ship.

An OP class defined in the script a user runs cannot be imported by name elsewhere, so its
code travels as a file. The pod must never run the script's workflow code (a script may call
``wf.submit()`` at top level without an ``if __name__ == "__main__":`` guard, as pydflow
allows), so the shipped file holds a selection of the script's top-level statements:

* before the OP's definition: every statement except expression statements (calls such as
  ``wf.submit()``, ``print(...)``, IPython magics; docstrings stay) and ``with``/``for``/
  ``while`` blocks, and except statements that use ``get_ipython``;
* the statement defining the OP (its class, its ``@OP.function`` function, or the assignment
  binding it);
* after it: function and class definitions, and imports, which move to the end of the file,
  each in ``try: ... except ImportError: pass`` (a later cell's ``import matplotlib`` must
  not stop an OP in an image without it; a function that needs it fails when called).

Dropped lines are blanked, so line numbers in the pod's tracebacks are the script's. The file
is imported under another name than ``__main__`` (:func:`dflow.runner.locate.load_op_file`).

In a notebook the "script" is the kernel's input history (cells as they ran, in order; a
cell that does not parse never ran and is left out), and the OP's cell is found through the
pseudo file name IPython compiles each cell with.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import linecache
import os
import sys
from collections.abc import Sequence
from typing import Any

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SKIPPED_BEFORE = (ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)
_FLAGS = ast.PyCF_ONLY_AST | getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
_DFLOW_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SourceError(ValueError):
    """The source of an OP defined in ``__main__`` cannot be found or selected."""


def definition_site(op_type: type) -> tuple[str, int]:
    """(file name its code was compiled with, a line inside its definition)."""
    func = vars(op_type).get("func")
    if func is not None:  # OP.function: the decorated function
        candidates = [inspect.unwrap(getattr(func, "__func__", func))]
    else:
        candidates = []
        for value in vars(op_type).values():
            value = getattr(value, "__func__", value)
            if callable(value):
                candidates.append(inspect.unwrap(value))
    sites = []
    for f in candidates:
        code = getattr(f, "__code__", None)
        if code is not None and not code.co_filename.startswith(_DFLOW_DIR + os.sep):
            sites.append((code.co_filename, code.co_firstlineno))
    # 3.13+: the class statement's line, read from the class itself (a class OP.function
    # made would otherwise report its base's line, in dflow's own module)
    first = vars(op_type).get("__firstlineno__")
    if first is not None and sites:
        return sites[0][0], first
    if not sites:
        raise SourceError(
            f"OP {op_type.__qualname__} is defined in __main__ but none of its methods has "
            "source code to find it by: define execute() in the class, or move the OP into "
            "a module"
        )
    file = max({f for f, _ in sites}, key=lambda f: sum(1 for g, _ in sites if g == f))
    return file, min(line for f, line in sites if f == file)


def _parse(text: str, where: str) -> list[ast.stmt] | None:
    try:
        return compile(text, where, "exec", _FLAGS).body
    except SyntaxError:
        return None


def _span(stmt: ast.stmt) -> tuple[int, int]:
    first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
    return first, stmt.end_lineno or stmt.lineno


def _uses_ipython(stmt: ast.stmt) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "get_ipython" for n in ast.walk(stmt))


def _keep_before(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Constant)  # a docstring, not a call
    return not isinstance(stmt, _SKIPPED_BEFORE) and not _uses_ipython(stmt)


def _binds(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return stmt.name == name
    targets = (
        stmt.targets
        if isinstance(stmt, ast.Assign)
        else ([stmt.target] if isinstance(stmt, ast.AnnAssign) else [])
    )
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def select(cells: Sequence[str], cell: int, line: int, qualname: str) -> str:
    """The shipped text of ``cells`` (one per script) for the OP named ``qualname`` whose
    definition holds ``line`` of ``cells[cell]`` (see the module docstring)."""
    out: list[str] = []
    late_imports: list[str] = []
    top = qualname.split(".")[0]
    for index, text in enumerate(cells):
        lines = text.splitlines()
        body = _parse(text, f"<cell {index}>")
        keep: set[int] = set()
        if body is None:
            if index == cell:
                raise SourceError(f"the code defining OP {qualname} does not parse")
            continue
        state = "before" if index < cell else "after" if index > cell else "cell"
        found = state != "cell"
        for stmt in body:
            start, end = _span(stmt)
            if state == "cell" and start <= line <= end:
                if not _binds(stmt, top):
                    raise SourceError(
                        f"OP {qualname} is defined inside a top-level "
                        f"'{type(stmt).__name__.lower()}' block (line {start}): define it at "
                        "the top level of the script, or in a module"
                    )
                keep.update(range(start, end + 1))
                state, found = "after", True
                continue
            if state == "after" and isinstance(stmt, (ast.Import, ast.ImportFrom)):
                if getattr(stmt, "module", None) != "__future__":
                    late_imports.append("\n".join(lines[start - 1 : end]))
            elif (
                state in ("before", "cell")
                and _keep_before(stmt)
                or (state == "after" and isinstance(stmt, _DEFINITIONS))
            ):
                keep.update(range(start, end + 1))
        if not found:
            raise SourceError(f"line {line} of the code defining OP {qualname} holds no statement")
        out += [ln if i in keep else "" for i, ln in enumerate(lines, 1)]
    for statement in late_imports:
        indented = "\n".join("    " + ln for ln in statement.splitlines())
        out += [
            "try:  # dflow: an import from after the OP's definition, optional in a pod",
            indented,
            "except ImportError:",
            "    pass",
        ]
    return "\n".join(out) + "\n"


def _ipython() -> Any:
    module = sys.modules.get("IPython")
    get = getattr(module, "get_ipython", None)
    return get() if get is not None else None


def _notebook_cells(file: str, line: int) -> tuple[list[str], int, int] | None:
    """(the kernel's input history, the OP's cell index, its line there), or None when
    ``file`` is not a cell of this kernel."""
    shell = _ipython()
    if shell is None:
        return None
    cell_text = "".join(linecache.getlines(file))
    if not cell_text:
        return None
    history = [c for c in list(shell.history_manager.input_hist_parsed)[1:] if c]
    for index in range(len(history) - 1, -1, -1):
        if history[index].rstrip("\n") == cell_text.rstrip("\n"):
            return history, index, line
    return None


class MainSource:
    """The shipped code of an OP defined in ``__main__``: ``text``, saved as ``file_name``."""

    def __init__(self, text: str, stem: str) -> None:
        self.text = text
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        self.file_name = f"dflow_main_{stem}_{digest}.py"

    def write(self, directory: str) -> str:
        """Save the text under ``directory`` (once: the name holds its hash); its path."""
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, self.file_name)
        if not os.path.isfile(path):
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(self.text)
            os.replace(tmp, path)
        return path


def main_source(op_type: type) -> MainSource:
    """The code to ship for ``op_type``, an OP defined in a script or notebook."""
    file, line = definition_site(op_type)
    notebook = _notebook_cells(file, line)
    if notebook is not None:
        cells, cell, line = notebook
        stem = "notebook"
    else:
        # the script as it is now: a long-lived process may have run an earlier version
        linecache.checkcache(file)
        lines = linecache.getlines(file)
        if not lines:
            raise SourceError(
                f"OP {op_type.__qualname__}: its source {file!r} cannot be read; define the OP "
                "in a module (or in a script or notebook whose source is available)"
            )
        cells, cell = ["".join(lines)], 0
        stem = os.path.splitext(os.path.basename(file))[0].replace("-", "_")
        stem = "".join(c if c.isalnum() or c == "_" else "_" for c in stem) or "script"
    return MainSource(select(cells, cell, line, op_type.__qualname__), stem)

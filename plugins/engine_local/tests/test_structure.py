"""The engine's shape: its modules import each other without a cycle, no class of the engine
inherits from a class of another of its modules (parts are composed, not mixed in), and no
parameter is typed as the engine itself (``run: Any``)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import dflow_engine_local

PACKAGE = Path(dflow_engine_local.__file__).parent


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.glob("*.py"))}


def _imports(tree: ast.Module) -> dict[str, str]:
    """Names bound by relative imports anywhere in the module (deferred ones too) -> module."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                target = node.module or alias.name  # `from . import scripts`
                out[alias.asname or alias.name] = target
    return out


def import_graph() -> dict[str, set[str]]:
    return {name: set(_imports(tree).values()) for name, tree in _modules().items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt]
            if nxt not in state:
                found = visit(nxt, [*stack, nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_modules_import_each_other_without_a_cycle():
    graph = import_graph()
    assert len(graph) > 20  # every module was read
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_class_inherits_from_a_class_of_another_engine_module():
    mixed = []
    for name, tree in _modules().items():
        imported = _imports(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    if isinstance(base, ast.Name) and base.id in imported:
                        mixed.append(f"{name}.{node.name}({base.id} from .{imported[base.id]})")
    assert mixed == []


def test_no_parameter_is_typed_as_the_engine_itself():
    loose = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.arg) and node.arg in ("run", "engine", "runner"):
                loose.append(f"{name}.py:{node.lineno}: {node.arg}")
    assert loose == []


def test_loading_the_engine_imports_only_what_every_run_needs():
    # the engine module is imported inside every submit(): what it pulls in is paid by every
    # run, so the parts only some workflows use come with their first use (an expression,
    # a float rendered, an HTTP step, a cache in a bucket, an output saved to a key)
    code = (
        "import json, sys\n"
        "import dflow_engine_local.engine\n"
        "optional = ('dflow.expressions.parser', 'dflow.expressions.interpreter',\n"
        "            'dflow.expressions.nodes', 'dflow.runner.s3', 'dflow.runner.cacheobj',\n"
        "            'decimal', 'urllib.request', 'http.client', 'xml.etree.ElementTree',\n"
        "            'dflow.storage.archive', 'dflow.storage.objects', 'tarfile')\n"
        "before = [m for m in optional if m in sys.modules]\n"
        "from dflow import expressions\n"
        "expressions.render('{{=1.5 * 2}}', {})\n"
        "after = [m for m in optional if m in sys.modules]\n"
        "print(json.dumps([before, after]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = json.loads(out.stdout)
    assert before == [], f"loading the local engine imported: {before}"
    # and the first expression brings what it needs
    assert {"dflow.expressions.parser", "dflow.expressions.interpreter", "decimal"} <= set(after)


def test_a_run_without_a_configuration_file_does_not_load_the_settings_converter(tmp_path):
    # cattrs (about 13 ms to import) structures what a dflow.toml says; with no file the
    # plugins' settings are their defaults, so a run goes without it. With a file, the same
    # strict converter reports a misspelled key.
    code = (
        "import json, sys\n"
        "from dflow import ShellOPTemplate, Step, Workflow\n"
        "wf = Workflow('plain')\n"
        "wf.add(Step('s', ShellOPTemplate(name='t', image='alpine', script='echo hi')))\n"
        "wf.submit()\n"
        "print(json.dumps([wf.query_status(), [m for m in ('cattrs', 'tomllib') if m in sys.modules]]))\n"
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DFLOW_MODE": "debug"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1]) == ["Succeeded", []]
    (tmp_path / "dflow.toml").write_text("[engines.local]\npool_workerz = 1\n")
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert run.returncode != 0
    assert "engines.local.pool_workerz: extra key (did you mean 'pool_workers'?)" in run.stderr

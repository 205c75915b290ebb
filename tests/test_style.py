"""House style gates that a reviewer would otherwise check by hand."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["core", "plugins", "tests", "benchmarks", "examples", "templates"]


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    proc = subprocess.run([str(ruff), "check", *SOURCES], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_ruff_format_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    proc = subprocess.run(
        [str(ruff), "format", "--check", *SOURCES], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, "run `ruff format`: " + proc.stdout[-4000:]


def test_no_module_over_700_lines():
    big = []
    # only the source trees: a walk of the whole checkout would enter .work/, where a benchmark
    # may be deleting a run's directory at the same time
    for path in (p for top in SOURCES for p in (ROOT / top).glob("**/*.py")):
        parts = set(path.relative_to(ROOT).parts)
        if parts & {".venv", ".work", "tests", "test"} or "site-packages" in parts:
            continue
        n = sum(1 for _ in path.open(encoding="utf-8"))
        if n > 700:
            big.append(f"{path.relative_to(ROOT)}: {n} lines")
    assert big == [], "split these modules (STYLE.md): " + ", ".join(big)


# SDKs that take from a tenth of a second to a second to import: loaded by the factory or
# the first call that needs them, never by `import dflow`, `dflow --help` or an entry point
HEAVY = (
    "boto3",
    "oss2",
    "google.cloud",
    "dpdispatcher",
    "paramiko",
    "requests",
    "jsonschema",
    "kubernetes",
    "argo_workflows",
    "urllib3",
)


def _heavy_loaded_by(code: str) -> list[str]:
    code += f"\nimport sys\nprint(sorted(h for h in {HEAVY!r} if h in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def test_plugin_entry_modules_do_not_import_heavy_sdks():
    assert (
        _heavy_loaded_by(
            "import importlib.metadata as m\n"
            "for ep in m.entry_points(group='dflow'):\n"
            "    if ep.value.startswith('dflow_'): ep.load()\n"
        )
        == []
    )


def test_import_dflow_and_help_do_not_import_heavy_sdks():
    assert (
        _heavy_loaded_by(
            "import dflow\n"
            "from dflow import Workflow, Step, ShellOPTemplate\n"
            "from dflow.python import OP, PythonOPTemplate\n"
            "from dflow.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        )
        == []
    )


def test_the_heavy_check_sees_a_heavy_import():
    assert _heavy_loaded_by("import dflow, urllib3") == ["urllib3"]


def cross_plugin_imports(sources: dict[str, dict[str, str]]) -> list[str]:
    """``plugin -> {path: source}`` to the imports of another plugin's top-level module."""
    owners = {f"dflow_{plugin}": plugin for plugin in sources}
    found = []
    for plugin, files in sources.items():
        for path, text in files.items():
            for node in ast.walk(ast.parse(text, path)):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    owner = owners.get(name.split(".")[0])
                    if owner is not None and owner != plugin:
                        found.append(f"{path}:{node.lineno} imports {name} (plugin {owner})")
    return found


def test_no_plugin_imports_another_plugin():
    """Plugins meet in core (protocols, records, the plugin manager), never in each other."""
    sources = {
        d.name: {
            str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
            for p in (d / "src").rglob("*.py")
        }
        for d in sorted((ROOT / "plugins").iterdir())
        if (d / "src").is_dir()
    }
    assert len(sources) >= 7
    assert cross_plugin_imports(sources) == []


def test_the_cross_plugin_check_sees_an_import_inside_a_function():
    sources = {
        "executor_slurm": {"a.py": "def f():\n    from dflow_executor_dispatcher import argo\n"},
        "executor_dispatcher": {"b.py": "import dflow_executor_dispatcher.argo\nimport dflow\n"},
    }
    assert cross_plugin_imports(sources) == [
        "a.py:2 imports dflow_executor_dispatcher (plugin executor_dispatcher)"
    ]


def _mypy() -> str:
    return str(Path(sys.executable).with_name("mypy"))


def test_mypy_is_clean():
    """Core and every plugin type-check ([tool.mypy] in pyproject.toml); `make lint` runs it too."""
    proc = subprocess.run([_mypy()], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, "mypy (see [tool.mypy]):\n" + proc.stdout[-6000:] + proc.stderr


def _lazy_exports(init: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``_EXPORTS`` of a package ``__init__`` and the names its TYPE_CHECKING block imports."""
    tree = ast.parse(init.read_text(encoding="utf-8"))
    exports: dict[str, str] = {}
    typed: dict[str, str] = {}
    package = ".".join(init.relative_to(ROOT / "core" / "src").parent.parts)
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name) and target.id == "_EXPORTS" and node.value:
                exports = ast.literal_eval(node.value)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.level == 1
                for alias in imp.names:
                    assert alias.asname == alias.name, f"{alias.name}: re-export as itself"
                    typed[alias.name] = f"{package}.{imp.module}"
    return exports, typed


def test_the_type_checking_blocks_list_every_lazy_export():
    """Type checkers see through the lazy ``__getattr__`` exports (``from dflow import Step``)."""
    for init in ("core/src/dflow/__init__.py", "core/src/dflow/python/__init__.py"):
        exports, typed = _lazy_exports(ROOT / init)
        assert exports and typed == exports, init


def test_mypy_sees_the_types_of_dflow_names_in_a_user_script(tmp_path):
    script = tmp_path / "user.py"
    script.write_text(
        "from dflow import Step, Workflow\n"
        "from dflow.python import PythonOPTemplate\n"
        "reveal_type(Step)\n"
        "reveal_type(PythonOPTemplate)\n"
        "Workflow('wf').add(Step(name=1, template=None))\n"
    )
    (tmp_path / "mypy.ini").write_text("[mypy]\n")
    cache = ROOT / ".work" / "mypy-user-cache"
    proc = subprocess.run(
        [_mypy(), "--config-file", "mypy.ini", "--cache-dir", str(cache), "user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    out = proc.stdout
    assert 'user.py:3: note: Revealed type is "def (name: str, template: ' in out, out
    assert '-> dflow.model.step.Step"' in out
    assert '-> dflow.python.template.PythonOPTemplate"' in out
    assert 'user.py:5: error: Argument "name" to "Step" has incompatible type "int"' in out
    assert 'Argument "template" to "Step" has incompatible type "None"' in out


def test_every_distribution_ships_py_typed():
    """PEP 561: type checkers read a distribution's annotations only with a py.typed marker
    (hatch puts every file of the package directory in the wheel)."""
    packages = [ROOT / "core" / "src" / "dflow"]
    packages += [p for p in sorted(ROOT.glob("plugins/*/src/*")) if (p / "__init__.py").exists()]
    assert len(packages) >= 8
    assert [p for p in packages if not (p / "py.typed").is_file()] == []

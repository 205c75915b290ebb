"""Run OPs through ``python -m dflow.runner`` under a given interpreter, as a pod does.

The interpreter runs isolated (``-I -S``: no site-packages, no environment): it sees only the
packages directory (the pod runtime) and this folder (``runtime_ops``). Each scenario lays out
an inputs directory, runs the runner, and checks the exit code and the outputs directory.
``run_scenarios`` returns the failures as text, so one test per interpreter lists them all.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dflow.testing.pythons import POD_PYTHONS, pyenv_python

HERE = Path(__file__).resolve().parent
RUNNER = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from dflow.runner.__main__ import main; sys.exit(main(sys.argv[1:]))"
)


VERSIONS = POD_PYTHONS


def interpreter(version: str) -> str:
    """The pyenv interpreter of ``version`` (the test is skipped, not passed, without it)."""
    python = pyenv_python(version)
    if python is None:
        pytest.skip(f"no pyenv Python {version}")
    return python


def isolated(
    python: str, packages: str, *args: str, cwd: Path, env: dict | None = None, code: str = RUNNER
) -> subprocess.CompletedProcess:
    """``python -I -S -c code packages args...`` with only ``packages`` on the path."""
    return subprocess.run(
        [python, "-I", "-S", "-B", "-c", code, packages, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@dataclass
class Scenario:
    name: str
    op: str  # module:qualname in runtime_ops
    params: dict = field(default_factory=dict)  # name -> text of inputs/parameters/<name>
    setup: Callable[[Path], None] | None = None  # makes inputs/artifacts under the root
    args: tuple = ()
    exit_code: int = 0
    check: Callable[[Path, str], None] | None = None  # (outputs dir, stderr)


def _params(out: Path) -> dict:
    d = out / "parameters"
    return {p.name: p.read_text() for p in d.iterdir()} if d.is_dir() else {}


def _catalog(art: Path) -> list:
    items = []
    for f in sorted((art / ".dflow").iterdir()):
        items += json.loads(f.read_text())["path_list"]
    return sorted(items, key=lambda it: str(it.get("order")))


def _check_types(out: Path, err: str) -> None:
    p = _params(out)
    assert p["i"] == "6" and p["f"] == "5.0" and p["s"] == "abab" and p["b"] == "false", p
    assert json.loads(p["l"]) == [1, "x", None] and json.loads(p["li"]) == [2, 4], p
    assert json.loads(p["d"]) == {"k": [1], "u": "text"}, p
    assert json.loads(p["seen"]) == {
        "b": "bool",
        "d": "dict",
        "dflt": "int",
        "ds": "dict",
        "f": "float",
        "i": "int",
        "l": "list",
        "li": "list",
        "nested": "dict",
        "opt": "NoneType",
        "s": "str",
        "u": "str",
    }, p["seen"]


TYPES = {
    "i": "1",
    "f": "2.5",
    "s": "ab",
    "b": "true",
    "l": '[1, "x"]',
    "d": '{"k": [1]}',
    "li": "[1, 2]",
    "ds": '{"a": 1, "b": 0.5}',
    "opt": "null",
    "u": "text",
    "nested": '{"a": [1, 2], "b": []}',
}


def _files_setup(root: Path) -> None:
    arts = root / "inputs" / "artifacts"
    (arts / "file").parent.mkdir(parents=True)
    (arts / "file").write_text("F")
    (arts / "dir").mkdir()
    (arts / "dir" / "inner.txt").write_text("D")
    for name, entries in (
        ("many", [("0/a.txt", 0, "A"), ("1/b.txt", 1, "B")]),
        ("named", [("x/x.txt", "x", "X"), ("y/y.txt", "y", "Y")]),
    ):
        cat = arts / name / ".dflow"
        cat.mkdir(parents=True)
        items = []
        for rel, order, text in entries:
            (arts / name / rel).parent.mkdir(parents=True)
            (arts / name / rel).write_text(text)
            items.append({"dflow_list_item": rel, "order": order})
        (cat / "c").write_text(json.dumps({"path_list": items}))


def _check_files(out: Path, err: str) -> None:
    arts = out / "artifacts"
    assert (arts / "total" / "total.txt").read_text() == "F+D+A+B+X+Y"
    assert _catalog(arts / "copies") == [
        {"dflow_list_item": "copy0.txt", "order": 0},
        {"dflow_list_item": "copy1.txt", "order": 1},
    ]
    assert (arts / "copies" / "copy1.txt").read_text() == "B"
    assert _catalog(arts / "by_key") == [
        {"dflow_list_item": "keys/x", "order": "x"},
        {"dflow_list_item": "keys/y", "order": "y"},
    ]
    assert _params(out)["kinds"] == "PosixPath,PosixPath,list,dict", _params(out)


def _stacked(out: Path, name: str) -> list:
    return json.loads(_params(out)[name])


SLICES = json.dumps({"input_parameter": ["x"], "output_parameter": ["y", "parent"]})
POOL = json.dumps({"input_parameter": ["x"], "output_parameter": ["y", "parent"], "pool_size": 2})


def _check_slice(out: Path, err: str) -> None:
    assert _stacked(out, "y") == [{"dflow_list_item": 9, "order": 1}]


def _check_group(out: Path, err: str) -> None:
    assert _stacked(out, "y") == [
        {"dflow_list_item": v, "order": i} for i, v in enumerate([4, 9, 16])
    ]


def _check_pool(out: Path, err: str) -> None:
    _check_group(out, err)
    parents = {item["dflow_list_item"] for item in _stacked(out, "parent")}
    assert os.getpid() not in parents, parents  # ran in the runner's pool workers


def _check_tolerated(out: Path, err: str) -> None:
    assert (out / "success_tag").read_text() == "false"
    assert _stacked(out, "y") == [{"dflow_list_item": 4, "order": 0}]
    assert "slice 1: ValueError: unlucky" in err, err


def _partial(code: int, words: str) -> Callable[[Path, str], None]:
    def check(out: Path, err: str) -> None:
        assert _params(out) == {"early": "kept"}, _params(out)
        assert words in err, err

    return check


def _big_setup(root: Path) -> None:
    d = root / "inputs" / "parameters"
    d.mkdir(parents=True)
    (d / "data").write_text(json.dumps({"items": list(range(5000))}))


def _check_big(out: Path, err: str) -> None:
    assert _params(out)["size"] == "5000"
    assert json.loads(_params(out)["echo"])["items"][-1] == 4999


def _check_client(out: Path, err: str) -> None:
    assert "upload_artifact is client-side dflow" in err, err
    assert "Python 3." in err and "__main__" in err, err


def _check_bad_type(out: Path, err: str) -> None:
    assert "OP Types: input 'li' expects List[int], got list ([1, 'two'])" in err, err


def _check_no_jsonpickle(out: Path, err: str) -> None:
    assert (
        "the jsonpickle-encoded value '{\"py/tuple\": [1, 2]}' needs jsonpickle, which is "
        "not importable in this Python (3." in err
    ), err
    assert (
        "install jsonpickle in the image (pip install jsonpickle), or use plain JSON values" in err
    ), err
    assert not (out / "parameters").exists()


def _check_add(out: Path, err: str) -> None:
    assert _params(out) == {"sum": "5"}


SCENARIOS = [
    Scenario("types", "runtime_ops:Types", TYPES, check=_check_types),
    Scenario(
        "wrong type",
        "runtime_ops:Types",
        dict(TYPES, li='[1, "two"]'),
        exit_code=3,
        check=_check_bad_type,
    ),
    Scenario("artifacts", "runtime_ops:Files", setup=_files_setup, check=_check_files),
    Scenario(
        "slice",
        "runtime_ops:Square",
        {"x": "[1, 3, 5]", "label": "s"},
        args=("--slices", SLICES, "--slice-index", "1"),
        check=_check_slice,
    ),
    Scenario(
        "group",
        "runtime_ops:Square",
        {"x": "[2, 3, 4]", "label": "g"},
        args=("--slices", SLICES, "--slice-index", "[0, 1, 2]"),
        check=_check_group,
    ),
    Scenario(
        "pool",
        "runtime_ops:Square",
        {"x": "[2, 3, 4]", "label": "p"},
        args=("--slices", POOL, "--slice-index", "[0, 1, 2]"),
        check=_check_pool,
    ),
    Scenario(
        "success tag",
        "runtime_ops:Square",
        {"x": "[2, 13]", "label": "t"},
        args=("--slices", SLICES, "--slice-index", "[0, 1]", "--success-tag"),
        check=_check_tolerated,
    ),
    Scenario(
        "set_output, error",
        "runtime_ops:Partial",
        {"how": "error"},
        exit_code=3,
        check=_partial(3, "RuntimeError: boom"),
    ),
    Scenario(
        "transient",
        "runtime_ops:Partial",
        {"how": "transient"},
        exit_code=1,
        check=_partial(1, "TransientError: try again"),
    ),
    Scenario(
        "fatal",
        "runtime_ops:Partial",
        {"how": "fatal"},
        exit_code=2,
        check=_partial(2, "FatalError: give up"),
    ),
    Scenario("big parameter", "runtime_ops:Big", setup=_big_setup, check=_check_big),
    Scenario("function OP", "runtime_ops:add", {"a": "5"}, check=_check_add),
    Scenario("client call", "runtime_ops:Client", exit_code=3, check=_check_client),
    Scenario(
        "jsonpickle value, no jsonpickle",
        "runtime_ops:Pair",
        {"pair": '{"py/tuple": [1, 2]}'},
        exit_code=3,
        check=_check_no_jsonpickle,
    ),
]


def run_scenario(python: str, packages: str, sc: Scenario, root: Path) -> str | None:
    """None when ``sc`` behaves, else what went wrong."""
    root.mkdir(parents=True)
    if sc.setup is not None:
        sc.setup(root)
    pdir = root / "inputs" / "parameters"
    pdir.mkdir(parents=True, exist_ok=True)
    for name, text in sc.params.items():
        (pdir / name).write_text(text)
    (root / "work").mkdir()
    proc = isolated(
        python,
        packages,
        "--op",
        sc.op,
        "--sys-path",
        str(HERE),
        "--inputs",
        str(root / "inputs"),
        "--outputs",
        str(root / "outputs"),
        "--workdir",
        str(root / "work"),
        *sc.args,
        cwd=root / "work",
    )
    if proc.returncode != sc.exit_code:
        return f"exit code {proc.returncode}, expected {sc.exit_code}:\n{proc.stderr[-3000:]}"
    try:
        if sc.check is not None:
            sc.check(root / "outputs", proc.stderr)
    except AssertionError as exc:
        return f"{exc}\n{proc.stderr[-3000:]}"
    return None


def run_scenarios(python: str, packages: str, tmp: Path) -> list[str]:
    failures = []
    for i, sc in enumerate(SCENARIOS):
        problem = run_scenario(python, packages, sc, tmp / f"s{i}")
        if problem is not None:
            failures.append(f"[{sc.name}] {problem}")
    return failures

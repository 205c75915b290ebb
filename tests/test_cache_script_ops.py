"""The step cache across engines for OPs defined in the user's workflow script (``__main__``),
as most users write them: an entry the local engine fills serves an Argo run with the same
cache directory (pods of the conformance harness load the OP from the code shipped for it)
and the reverse; an edit to the OP misses on both, an edit to the script's workflow code or
``if __name__ == "__main__":`` block does not (docs/cache.md, "What is in the key").
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest
from dflow.cache.cli import explain_lines
from dflow.config_keys import IgnoredConfigWarning

sys.path.insert(0, str(Path(__file__).parent))
from cache_ops import computed
from test_cache_engines import _submit, _value
from test_conformance import run as engine_run  # noqa: F401 (the engines' fixture)

pytestmark = pytest.mark.filterwarnings(
    f"ignore::{IgnoredConfigWarning.__module__}.IgnoredConfigWarning"
)

#: a user's script; ``{body}`` is the OP's return, ``{main}`` what its main block prints
SCRIPT = '''\
"""Squares and their sum."""
import sys
import uuid
from pathlib import Path

from dflow import Step, Workflow
from dflow.python import OP, PythonOPTemplate, Slices

NAME = "cache-script"


def mark(log, what):
    Path(log, f"{{what}}-{{uuid.uuid4().hex}}").touch()


@OP.function
def square(x: int, log: str) -> {{"y": int}}:
    mark(log, f"square-{{x}}")
    return {{"y": {body}}}


@OP.function
def total(ys: list, log: str) -> {{"s": int}}:
    mark(log, "total")
    return {{"s": sum(ys)}}


def build(xs, log, executor=None):
    wf = Workflow(name=NAME)
    sliced = Slices(input_parameter=["x"], output_parameter=["y"])
    params = {{"x": xs, "log": log}}
    tmpl = PythonOPTemplate(square, slices=sliced)
    sq = Step("square", tmpl, parameters=params, executor=executor, cache=True)
    wf.add(sq)
    params = {{"ys": sq.outputs.parameters["y"], "log": log}}
    wf.add(Step("total", PythonOPTemplate(total), parameters=params, executor=executor, cache=True))
    return wf


{top}

if __name__ == "__main__":
    flow = build([1, 2, 3], sys.argv[1])
    flow.submit()
    print({main!r})
'''


def _load(path: Path, body: str = "x * x", main: str = "done", top: str = "") -> dict:
    """Write the script and define its names as ``python script.py`` does (in ``__main__``),
    without running its main block (the test submits)."""
    path.write_text(SCRIPT.format(body=body, main=main, top=top or "TITLE = 'squares'"))
    tree = ast.parse(path.read_text(), str(path))
    tree.body = tree.body[:-1]  # the `if __name__ == "__main__":` block
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(path)}
    exec(compile(tree, str(path), "exec"), namespace)
    assert namespace["square"].__module__ == "__main__"
    return namespace


def _total(run, script: dict, log: Path, engine: str) -> tuple[str, int]:
    wf = script["build"]([1, 2, 3], str(log))
    wf_id = _submit(run, wf, engine)
    return wf_id, _value(wf, "total", "s")


#: the engine_run fixture on Argo; a cache filled by one engine, read by the other
BOTH_ORDERS = pytest.mark.parametrize(
    ("name", "engine", "order"),
    [
        pytest.param("cache", "argo", ("local", "argo"), id="local-then-argo"),
        pytest.param("cache", "argo", ("argo", "local"), id="argo-then-local"),
    ],
)


@BOTH_ORDERS
def test_an_op_of_the_script_hits_on_the_other_engine(name, engine, order, request):
    run = request.getfixturevalue("engine_run")  # reads `name` and `engine` from the params
    run.monkeypatch.setenv("DFLOW_CACHE_DIR", str(run.workdir / "cache"))
    log = run.workdir / "log"
    log.mkdir()
    script = run.workdir / "squares.py"
    first, second = order
    first_id, s = _total(run, _load(script), log, first)
    assert (s, computed(log)) == (14, 4)
    # the main block and the top-level workflow code are not shipped: not in the key
    edited = _load(script, main="finished", top="TITLE = 'sums of squares'")
    again_id, s = _total(run, edited, log, second)
    assert (s, computed(log)) == (14, 4)  # the second engine computed nothing
    assert explain_lines(again_id, "square") == [
        f"cache-script/square: 3 slices reused from run {first_id}"
    ]
    # an edit to the OP's body: every slice runs again (and the total, whose input changed)
    _, s = _total(run, _load(script, body="x * x + 1"), log, second)
    assert (s, computed(log)) == (17, 8)
    assert computed(log, "square-") == 6
    # ... and that entry serves the first engine in turn
    _, s = _total(run, _load(script, body="x * x + 1"), log, first)
    assert (s, computed(log)) == (17, 8)


def test_one_identity_where_the_op_is_defined_shipped_and_described(tmp_path):
    """The user's process, the pod or job that loads the shipped code, and an executor's pod
    that keys a description of the OP (dflow.runner.cacheop) take one name and digest."""
    from dflow.runner.cache import op_identity
    from dflow.runner.cacheop import describe
    from dflow.runner.locate import load_op_file
    from dflow.shipping.runtime import main_op_args

    square = _load(tmp_path / "squares.py")["square"]
    here = op_identity(square)
    assert here[0] == "<script>.square"
    _, spec = main_op_args(square)
    shipped = load_op_file(spec)
    assert shipped.__module__.startswith("dflow_op_file_")
    assert op_identity(shipped) == here
    path = spec.rpartition(":")[0]
    assert describe(square, path)["name"] == describe(square)["name"] == here[0]
    assert describe(square, path)["source"] == describe(square)["source"] == here[1]
    assert op_identity(_load(tmp_path / "squares.py", main="other")["square"]) == here
    assert op_identity(_load(tmp_path / "squares.py", body="x + x")["square"]) != here


def test_an_op_of_an_importable_module_keeps_its_key():
    """Entries written before this rule for OPs of modules still hit: such an OP is keyed by
    its module's name and the digest of the module's file, as before."""
    import hashlib

    import cache_ops
    from dflow.runner.cache import op_identity

    data = Path(cache_ops.__file__).read_bytes()
    assert op_identity(cache_ops.square) == (
        "cache_ops.square",
        hashlib.sha256(data).hexdigest(),
    )


@BOTH_ORDERS
def test_a_script_op_sent_to_dpdispatcher_submits_no_job_on_the_other_engine(
    name, engine, order, request
):
    """The OP as a DPDispatcher job: the job loads it from its shipped code, the Argo pod keys
    the renderer's description of it, the local engine holds it in ``__main__``: one key, so
    the second engine submits no job."""
    from test_cache_argo_executors import _submit as submit_dp
    from test_cache_argo_executors import shell, submissions

    run = request.getfixturevalue("engine_run")
    root = run.workdir
    run.monkeypatch.setenv("DFLOW_CACHE_DIR", str(root / "cache"))
    log = root / "log"
    log.mkdir()
    script = _load(root / "squares.py")
    first, second = order
    submit_dp(run, script["build"]([1, 2, 3], str(log), shell(root)), first)
    assert (computed(log), submissions(root)) == (4, 4)
    again = script["build"]([1, 2, 3], str(log), shell(root))
    submit_dp(run, again, second)
    assert (computed(log), submissions(root)) == (4, 4)  # the second run submitted nothing
    assert _value(again, "total", "s") == 14


@BOTH_ORDERS
def test_an_op_imported_from_a_file_under_another_name_hits_on_the_other_engine(
    name, engine, order, request
):
    """An OP of a module imported from its path under another name (``cache_ops.py`` as
    ``cache_ops_as_file``): the pod loads it from the shipped file, the local engine has it
    imported; both key it as ``<script>.square`` with the file's digest, so an entry stored
    by either serves the other."""
    from dflow import Step, Workflow
    from dflow.python import PythonOPTemplate
    from test_cache_argo_executors import _from_file

    run = request.getfixturevalue("engine_run")
    run.monkeypatch.setenv("DFLOW_CACHE_DIR", str(run.workdir / "cache"))
    log = run.workdir / "log"
    log.mkdir()
    op = _from_file("square")

    def one() -> Workflow:
        wf = Workflow(name="cache-other-name")
        wf.add(Step("sq", PythonOPTemplate(op), {"x": 3, "log": str(log)}, cache=True))
        return wf

    first, second = order
    _submit(run, one(), first)
    assert computed(log) == 1
    again = one()
    again_id = _submit(run, again, second)
    assert _value(again, "sq", "y") == 9
    assert computed(log) == 1  # the other engine computed nothing
    assert explain_lines(again_id, "sq")[0].startswith("cache-other-name/sq: reused from run")

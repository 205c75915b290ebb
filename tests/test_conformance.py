"""Acceptance: every example and a workflow per user-guide section, on both engines, agree.

Each case builds a workflow through the public API, submits it, waits, and returns what a
user sees (phases, parameter values, the content of artifacts fetched with
``download_artifact``); the test asserts that this equals the case's expected value on
``local`` (the local engine) and on ``argo`` (ArgoEngine -> the stand-in Argo Server -> the
conformance harness's emulated controller -> real pods, artifacts on SeaweedFS through the
minio storage plugin). The harness is an emulation of Argo for conformance
(plugins/engine_argo/tests/conformance), not an engine. Cases failing on Argo for a product
bug owned elsewhere are ``xfail(strict=True)`` with the issue item.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dflow import (
    DAG,
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Steps,
    Task,
    Workflow,
    argo_len,
    argo_range,
    download_artifact,
    if_expression,
    upload_artifact,
)
from dflow.python import PythonOPTemplate, Slices, upload_packages

sys.path.insert(0, str(Path(__file__).parent))  # OPs live in a module the pods can import
from conformance_ops import (
    Counter,
    gather,
    make_files,
    maybe_read,
    numbers,
    shout_file,
    triple,
    use_helper,
)

CASES: dict[str, Callable[[Any], Any]] = {}
EXPECTED: dict[str, Any] = {}
#: (case, engine) -> why it fails today; flipped when the owning branch lands
XFAIL: dict[tuple[str, str], str] = {}


def case(expected: Any) -> Callable:
    def register(fn: Callable) -> Callable:
        CASES[fn.__name__] = fn
        EXPECTED[fn.__name__] = expected
        return fn

    return register


class Run:
    """Submits workflows on one engine and reads results the way a user does."""

    def __init__(
        self,
        engine: str,
        workdir: Path,
        example: Callable,
        hostpath: bool,
        emulator: Any = None,
        monkeypatch: Any = None,
    ) -> None:
        self.engine = engine
        self.monkeypatch = monkeypatch
        self.workdir = workdir
        self.example = example
        self.hostpath = hostpath  # pods see the workdir only through a hostPath mount
        self.emulator = emulator
        self.submitted: list[Workflow] = []

    def submit(self, wf: Workflow, **kwargs: Any) -> str:
        wf.submit(**kwargs)
        self.submitted.append(wf)
        wf.wait(interval=0.05)
        return wf.query_status()

    def explain(self) -> str:
        """The steps that did not succeed, with their messages (and pod logs on Argo)."""
        lines = []
        for wf in self.submitted:
            for s in wf.query_step():
                if s.phase not in ("Succeeded", "Skipped", "Omitted"):
                    lines.append(f"{s.name} {s.type} {s.phase}: {s.get('message')}")
                    if self.emulator is not None:
                        op = self.emulator.operators.get(("argo", wf.id))
                        log = (op.logs.get(s.id) if op else "") or ""
                        lines += ["    " + line for line in log.splitlines()[-15:]]
        return "\n".join(lines)

    def text(self, artifact: Any, **kwargs: Any) -> Any:
        """The content of a downloaded artifact: text of one file, or {relative path: text}."""
        # a fresh directory each time: id() of a freed artifact object may come back
        (self.workdir / "downloads").mkdir(exist_ok=True)
        dest = Path(tempfile.mkdtemp(dir=self.workdir / "downloads"))
        download_artifact(artifact, path=str(dest), **kwargs)
        files = sorted(p for p in dest.rglob("*") if p.is_file())
        out = {str(p.relative_to(dest)): p.read_text() for p in files}
        return next(iter(out.values())) if len(out) == 1 else out

    def share_workdir(self, template: Any) -> None:
        """Mount the workdir into a template's pods (hostPath), so that attempts of a step
        share files as they do on one machine."""
        if self.hostpath:
            template.volumes = [{"name": "workdir", "hostPath": {"path": str(self.workdir)}}]
            template.mounts = [{"name": "workdir", "mountPath": str(self.workdir)}]


def params(step: Any) -> dict[str, Any]:
    return {k: v.value for k, v in step.outputs.parameters.items() if not k.startswith("dflow_")}


# -- examples/ ----------------------------------------------------------------------------------


@case(
    {
        "phase": "Succeeded",
        "dup": {"msg": "Hello Hello Hello "},
        "count": {"count": 9, "echo": "Hello Hello Hello "},
        "bar": "one two three\n" * 3,
    }
)
def example_quickstart(run: Run) -> Any:
    ex = run.example("quickstart")
    Path("foo.txt").write_text("one two three\n")
    wf = ex.build(upload_artifact("foo.txt"))
    phase = run.submit(wf)
    dup, count = wf.query_step(key="dup")[0], wf.query_step(name="count")[0]
    return {
        "phase": phase,
        "dup": params(dup),
        "count": params(count),
        "bar": run.text(dup.outputs.artifacts["bar"]),
    }


@case(
    {
        "phase": "Succeeded",
        "dup": {"msg": "Hi Hi "},
        "count": {"count": 4, "echo": "Hi Hi "},
        "bar": "one two\n" * 2,
    }
)
def guide_storage_prefix_and_archive_mode(run: Run) -> Any:
    """3.1.2/3.1.20: artifacts under a key prefix (``s3_config["prefix"]``) and stored without
    archive (``config["archive_mode"] = None``); the quick start must not notice."""
    from dflow import config, s3_config

    run.monkeypatch.setitem(s3_config, "prefix", "team-a/")
    run.monkeypatch.setitem(config, "archive_mode", None)
    ex = run.example("quickstart")
    Path("foo.txt").write_text("one two\n")
    wf = ex.build(upload_artifact("foo.txt"))
    dup = next(s for s in wf.entrypoint.iter_steps() if s.name == "duplicate")
    dup.inputs.parameters["msg"].value, dup.inputs.parameters["num"].value = "Hi ", 2
    phase = run.submit(wf)
    dup, count = wf.query_step(key="dup")[0], wf.query_step(name="count")[0]
    return {
        "phase": phase,
        "dup": params(dup),
        "count": params(count),
        "bar": run.text(dup.outputs.artifacts["bar"]),
    }


@case({"steps": ["Succeeded", 66, "Steps", 6], "dag": ["Succeeded", 8, "Succeeded"]})
def example_steps_and_dag(run: Run) -> Any:
    ex = run.example("steps_and_dag")
    wf = ex.build_steps()
    phase = run.submit(wf)
    left = wf.query_step(name="left")[0]
    steps = [
        phase,
        wf.query_step(name="total")[0].outputs.parameters["c"].value,
        left.type,
        left.outputs.parameters["result"].value,
    ]
    wf = ex.build_dag()
    phase = run.submit(wf)
    dag = [
        phase,
        wf.query_step(name="d")[0].outputs.parameters["c"].value,
        wf.query_step(name="e")[0].phase,
    ]
    return {"steps": steps, "dag": dag}


@case({"phase": "Succeeded", "keys": [f"iter-{i}" for i in range(4)], "last": [4]})
def example_recurse(run: Run) -> Any:
    wf = run.example("recurse").build(limit=4)
    phase = run.submit(wf)
    return {
        "phase": phase,
        "keys": sorted(s.key for s in wf.query_step(name="add")),
        "last": [s.outputs.parameters["iter"].value for s in wf.query_step(key="iter-3")],
    }


@case([["high:7", "Skipped"], ["low:2", "Skipped"]])
def example_conditional_outputs(run: Run) -> Any:
    out = []
    for seed, skipped in ((7, "low"), (12, "high")):
        wf = run.example("conditional_outputs").build(seed)
        run.submit(wf)
        out.append(
            [
                wf.query_step(name="main")[0].outputs.parameters["msg"].value,
                wf.query_step(name=skipped)[0].phase,
            ]
        )
    return out


@case(
    {
        "phase": "Succeeded",
        "shouted": ["ITEM-0", "ITEM-1", "ITEM-2", "ITEM-3"],
        "squares": {"square-0": 0, "square-1": 1, "square-2": 4, "square-3": 9},
        "seq": ["NO-00", "NO-01", "NO-02", "NO-03"],
    }
)
def example_loops(run: Run) -> Any:
    wf = run.example("loops").build(n=4)
    phase = run.submit(wf)
    pods = wf.query_step(type="Pod")
    return {
        "phase": phase,
        "shouted": sorted(
            s.outputs.parameters["out"].value for s in wf.query_step(name="shout", type="Pod")
        ),
        "squares": {
            s.key: s.outputs.parameters["y"].value
            for s in pods
            if s.key and s.key.startswith("square-")
        },
        "seq": sorted(
            s.outputs.parameters["out"].value for s in pods if s.displayName.startswith("seq")
        ),
    }


@case({"phase": "Succeeded", "seen": "frame 1..100 (waited for it: yes)"})
def example_shared_volume(run: Run) -> Any:
    wf = run.example("shared_volume").build()
    phase = run.submit(wf)
    return {"phase": phase, "seen": params(wf.query_step(name="monitor")[0])["seen"]}


@case({"phase": "Succeeded", "total": {"sum": 14, "text": "alphabetagamma"}})
def example_slices(run: Run) -> Any:
    wf = run.example("slices").build(["alpha", "beta", "gamma"])
    phase = run.submit(wf)
    return {"phase": phase, "total": params(wf.query_step(name="total")[0])}


@case(
    {
        "phase": "Succeeded",
        "attempts": 3,
        "marker": "3",
        "timeout": "Failed",
        "ratio": ["Failed"] * 2 + ["Succeeded"] * 6,
    }
)
def example_error_handling(run: Run) -> Any:
    """3.1.7 timeout, 3.1.8 continue on failed, 3.1.9 success ratio, 3.2.2 retries."""
    wf = run.example("error_handling").build(str(run.workdir))
    run.share_workdir(
        wf.query_template("flaky") if hasattr(wf, "query_template") else _template_of(wf, "retry")
    )
    phase = run.submit(wf)
    ratio = [s.phase for s in wf.query_step(type="Pod") if s.displayName.startswith("ratio(")]
    return {
        "phase": phase,
        "attempts": wf.query_step(name="retry")[0].outputs.parameters["attempts"].value,
        "marker": (run.workdir / "flaky-attempts").read_text(),
        "timeout": wf.query_step(name="timeout")[0].phase,
        "ratio": sorted(ratio),
    }


def _template_of(wf: Workflow, step: str) -> Any:
    return next(s for s in wf.entrypoint.iter_steps() if s.name == step).template


# -- the user guide (seed README §3.1 and §3.2) ---------------------------------------------


def sh(name: str, script: str, image: str = "alpine:3", **outputs: Any) -> ShellOPTemplate:
    t = ShellOPTemplate(name=name, image=image, script=script)
    for out, default in outputs.items():
        t.outputs.parameters[out] = OutputParameter(value_from_path=f"/tmp/{out}", default=default)
    return t


@case(
    {
        "phase": "Succeeded",
        "steps": {"ok": "Succeeded", "odd": "Failed"},
        "loop": ["Failed", "Failed", "Succeeded", "Succeeded"],
    }
)
def guide_continue_on_failed_and_success_number(run: Run) -> Any:
    """3.1.8 continue_on_failed, 3.1.9 continue_on_num_success."""
    fail = sh("fail-odd", "test $(( {{inputs.parameters.i}} % 2 )) -eq 0")
    fail.inputs.parameters = {"i": InputParameter()}
    wf = Workflow(name="continue")
    wf.add(
        [
            Step("ok", fail, parameters={"i": 2}),
            Step("odd", fail, parameters={"i": 1}, continue_on_failed=True),
        ]
    )
    wf.add(
        Step(
            "loop",
            fail,
            parameters={"i": "{{item}}"},
            with_param=argo_range(4),
            continue_on_num_success=2,
        )
    )
    phase = run.submit(wf)
    loop = sorted(s.phase for s in wf.query_step(type="Pod") if s.displayName.startswith("loop("))
    return {
        "phase": phase,
        "loop": loop,
        "steps": {s: wf.query_step(name=s)[0].phase for s in ("ok", "odd")},
    }


@case({"phase": "Succeeded", "with": "payload", "without": "nothing"})
def guide_optional_input_artifact(run: Run) -> Any:
    """3.1.10: an optional input artifact may be left out."""
    Path("payload.txt").write_text("payload")
    tmpl = PythonOPTemplate(maybe_read)
    wf = Workflow(name="optional")
    wf.add(
        [
            Step("with", tmpl, artifacts={"data": upload_artifact("payload.txt")}),
            Step("without", tmpl),
        ]
    )
    phase = run.submit(wf)
    return {
        "phase": phase,
        **{
            s: wf.query_step(name=s)[0].outputs.parameters["got"].value for s in ("with", "without")
        },
    }


@case(
    {
        "phase": "Succeeded",
        "written": "yes",
        "missing": "fallback",
        "skipped": "Skipped",
        "inner": "fallback",
    }
)
def guide_output_parameter_defaults(run: Run) -> Any:
    """3.1.11: the default of an output parameter a step did not write, or of a skipped step
    read by its Steps template's output."""
    tmpl = sh(
        "maybe-write",
        "test {{inputs.parameters.w}} = 1 && echo yes > /tmp/out || true",
        out="fallback",
    )
    tmpl.inputs.parameters = {"w": InputParameter()}
    inner = Steps("inner")
    skipped = Step("skipped", tmpl, parameters={"w": 1}, when="1 == 2")
    inner.add(skipped)
    inner.outputs.parameters["res"] = OutputParameter(
        value_from_parameter=skipped.outputs.parameters["out"], default="outer"
    )
    wf = Workflow(name="defaults")
    wf.add(
        [
            Step("written", tmpl, parameters={"w": 1}),
            Step("missing", tmpl, parameters={"w": 0}),
            Step("inner", inner),
        ]
    )
    phase = run.submit(wf)
    got = {
        s: wf.query_step(name=s)[0].outputs.parameters["out"].value for s in ("written", "missing")
    }
    skip = wf.query_step(name="skipped")[0]
    got["skipped"] = (
        skip.phase if "out" not in skip.outputs.parameters else skip.outputs.parameters["out"].value
    )
    got["inner"] = wf.query_step(name="inner")[0].outputs.parameters["res"].value
    return {"phase": phase, **got}


@case({"phase": "Succeeded", "got": "line\n"})
def guide_str_output_keeps_its_newline(run: Run) -> Any:
    """A str output parameter of a Python OP reads back as the OP returned it."""
    Path("line.txt").write_text("line\n")
    wf = Workflow(name="newline")
    wf.add(
        Step("read", PythonOPTemplate(maybe_read), artifacts={"data": upload_artifact("line.txt")})
    )
    phase = run.submit(wf)
    return {"phase": phase, "got": wf.query_step(name="read")[0].outputs.parameters["got"].value}


@case({"phase": "Succeeded", "keys": ["sq-0", "sq-1", "sq-2"], "sq-2": 4})
def guide_keys(run: Run) -> Any:
    """3.1.12: keys name steps, a loop's item included."""
    ex = run.example("loops")
    wf = Workflow(name="keys")
    wf.add(
        Step(
            "sq",
            PythonOPTemplate(ex.square),
            parameters={"x": "{{item}}"},
            with_param=argo_range(3),
            key="sq-{{item}}",
        )
    )
    phase = run.submit(wf)
    (two,) = wf.query_step(key="sq-2")
    return {
        "phase": phase,
        "keys": sorted(s.key for s in wf.query_step(type="Pod")),
        "sq-2": two.outputs.parameters["y"].value,
    }


@case({"phase": "Succeeded", "global": {"answer": "42"}})
def guide_global_outputs(run: Run) -> Any:
    """Outputs exported with a global name, read by query_global_outputs."""
    tmpl = sh("answer", "echo -n 42 > /tmp/answer", answer=None)
    tmpl.outputs.parameters["answer"].global_name = "answer"
    wf = Workflow(name="globals")
    wf.add(Step("answer", tmpl))
    phase = run.submit(wf)
    outputs = wf.query_global_outputs()
    got = {p.name: p.value for p in outputs.parameters.values()} if outputs else {}
    return {"phase": phase, "global": got}


@case(
    {
        "phase": "Succeeded",
        "summary": "FILE 0,FILE 1,FILE 2|FILE 0,FILE 1,FILE 2|3,6,9,12,15",
        "pods": 3,
    }
)
def guide_slices_sub_path_and_group_size(run: Run) -> Any:
    """3.2.1: sub-path slices of an unarchived list artifact; group_size items per pod; the
    stacked outputs read by a following step."""
    wf = Workflow(name="slices2")
    make = Step("make", PythonOPTemplate(make_files), parameters={"n": 3})
    shout = Step(
        "shout",
        PythonOPTemplate(
            shout_file,
            slices=Slices(
                sub_path=True,
                input_artifact=["file"],
                output_parameter=["loud"],
                output_artifact=["copy"],
            ),
        ),
        artifacts={"file": make.outputs.artifacts["files"]},
    )
    nums = Step("nums", PythonOPTemplate(numbers), parameters={"n": 5})
    tri = Step(
        "tri",
        PythonOPTemplate(
            triple,
            slices=Slices(
                "{{item}}", input_parameter=["data"], output_parameter=["t"], group_size=2
            ),
        ),
        parameters={"data": nums.outputs.parameters["data"]},
        with_param=argo_range(argo_len(nums.outputs.parameters["data"])),
    )
    both = Step(
        "gather",
        PythonOPTemplate(gather),
        parameters={"louds": shout.outputs.parameters["loud"], "ts": tri.outputs.parameters["t"]},
        artifacts={"copies": shout.outputs.artifacts["copy"]},
    )
    wf.add([make, nums])
    wf.add([shout, tri])
    wf.add(both)
    phase = run.submit(wf)
    groups = [s for s in wf.query_step(type="Pod") if s.displayName.startswith("tri(")]
    return {
        "phase": phase,
        "pods": len(groups),
        "summary": wf.query_step(name="gather")[0].outputs.parameters["summary"].value,
    }


@case({"phase": "Succeeded", "counted": 4, "progress": "4/4"})
def guide_progress(run: Run) -> Any:
    """3.2.3: an OP's progress_total/progress_current reach its step."""
    wf = Workflow(name="progress")
    wf.add(Step("count", PythonOPTemplate(Counter)))
    phase = run.submit(wf)
    step = wf.query_step(name="count")[0]
    return {
        "phase": phase,
        "counted": step.outputs.parameters["counted"].value,
        "progress": step.get("progress"),
    }


@case({"phase": "Succeeded", "y": 42})
def guide_upload_packages(run: Run) -> Any:
    """3.2.4: a local package reaches the pods through upload_packages."""
    pkg = run.workdir / "pkgs" / "conformance_helper"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("def double(x):\n    return 2 * x\n")
    upload_packages.append(str(pkg))
    sys.path.insert(0, str(pkg.parent))  # the local engine imports it from here
    try:
        wf = Workflow(name="packages")
        wf.add(Step("use", PythonOPTemplate(use_helper), parameters={"x": 21}))
        phase = run.submit(wf)
    finally:
        upload_packages.remove(str(pkg))
        sys.path.remove(str(pkg.parent))
        sys.modules.pop("conformance_helper", None)
    return {"phase": phase, "y": wf.query_step(name="use")[0].outputs.parameters["y"].value}


@case({"phase": "Succeeded", "dup": {"msg": "ab ab "}, "bar": "x\nx\n"})
def guide_image_python38(run: Run) -> Any:
    """A Python OP in a python:3.8 image (the pod runs the shipped dflow under 3.8)."""
    ex = run.example("quickstart")
    Path("foo.txt").write_text("x\n")
    wf = Workflow(name="py38")
    wf.add(
        Step(
            "dup",
            PythonOPTemplate(ex.duplicate, image="python:3.8"),
            parameters={"msg": "ab ", "num": 2},
            artifacts={"foo": upload_artifact("foo.txt")},
        )
    )
    phase = run.submit(wf)
    dup = wf.query_step(name="dup")[0]
    return {"phase": phase, "dup": params(dup), "bar": run.text(dup.outputs.artifacts["bar"])}


@case({"first": "Failed", "second": "Succeeded", "runs": "1", "retried": "Succeeded"})
def guide_retry_failed_workflow(run: Run) -> Any:
    """3.1.1 workflow management: retry re-runs the failed step, keeping the succeeded one."""
    once = sh("once", "echo run >> {{inputs.parameters.dir}}/runs")
    once.inputs.parameters = {"dir": InputParameter()}
    gate = sh("gate", "test -e {{inputs.parameters.dir}}/open")
    gate.inputs.parameters = {"dir": InputParameter()}
    run.share_workdir(once)
    run.share_workdir(gate)
    wf = Workflow(name="again")
    wf.add(Step("once", once, parameters={"dir": str(run.workdir)}))
    wf.add(Step("gate", gate, parameters={"dir": str(run.workdir)}))
    first = run.submit(wf)
    (run.workdir / "open").write_text("")
    wf.retry()
    second = wf.wait(interval=0.05)
    return {
        "first": first,
        "second": second,
        "runs": str(len((run.workdir / "runs").read_text().split())),
        "retried": wf.query_step(name="gate")[0].phase,
    }


@case({"phase": "Succeeded", "first": [9, 10], "reused": [100, 101], "runs": "1"})
def guide_reuse_steps(run: Run) -> Any:
    """3.1.13: a new workflow reuses a step of an old one, with a modified output."""
    counted = sh(
        "counted",
        "echo run >> {{inputs.parameters.dir}}/runs; "
        "echo $(( {{inputs.parameters.x}} * {{inputs.parameters.x}} )) > /tmp/y",
        y=None,
    )
    counted.inputs.parameters = {"dir": InputParameter(), "x": InputParameter(type=int)}
    counted.outputs.parameters["y"].type = int
    run.share_workdir(counted)
    add = run.example("steps_and_dag").add

    def build() -> Workflow:
        wf = Workflow(name="reuse")
        sq = Step("sq", counted, parameters={"dir": str(run.workdir), "x": 3}, key="sq")
        plus = Step(
            "plus",
            PythonOPTemplate(add),
            parameters={"a": sq.outputs.parameters["y"], "b": 1},
            key="plus",
        )
        wf.add(sq)
        wf.add(plus)
        return wf

    first = build()
    run.submit(first)
    old = first.query_step(key="sq")[0]
    before = [
        old.outputs.parameters["y"].value,
        first.query_step(key="plus")[0].outputs.parameters["c"].value,
    ]
    old.modify_output_parameter("y", 100)
    second = build()
    phase = run.submit(second, reuse_step=[old])
    return {
        "phase": phase,
        "first": before,
        "reused": [
            second.query_step(key="sq")[0].outputs.parameters["y"].value,
            second.query_step(key="plus")[0].outputs.parameters["c"].value,
        ],
        "runs": str(len((run.workdir / "runs").read_text().split())),
    }


@case({3: ["low\n", "Skipped"], 8: ["high\n", "Skipped"]})
def guide_dag_conditional_artifact(run: Run) -> Any:
    """3.1.4 DAG, 3.1.5 conditions: tasks skipped by ``when``, an output artifact chosen by
    ``if_expression`` (fromExpression)."""
    gen = sh("gen", "printf {{inputs.parameters.n}} > /tmp/num", num=None)
    gen.inputs.parameters = {"n": InputParameter()}
    gen.outputs.parameters["num"].type = int
    writer = ShellOPTemplate(
        name="writer", image="alpine:3", script="echo {{inputs.parameters.word}} > /tmp/out.txt"
    )
    writer.inputs.parameters = {"word": InputParameter()}
    writer.outputs.artifacts = {"out": OutputArtifact(path="/tmp/out.txt")}
    out = {}
    for n, skipped in ((3, "high"), (8, "low")):
        dag = DAG(name="pick")
        dag.inputs.parameters = {"n": InputParameter(type=int)}
        g = Task("gen", gen, parameters={"n": dag.inputs.parameters["n"]})
        num = g.outputs.parameters["num"]
        low = Task("low", writer, parameters={"word": "low"}, when=f"{num} < 5")
        high = Task("high", writer, parameters={"word": "high"}, when=f"{num} >= 5")
        dag.add([g, low, high])
        dag.outputs.artifacts = {
            "chosen": OutputArtifact(
                from_expression=if_expression(
                    _if=num < 5,
                    _then=low.outputs.artifacts["out"],
                    _else=high.outputs.artifacts["out"],
                )
            )
        }
        wf = Workflow(name="dagcond")
        wf.add(Step("main", dag, parameters={"n": n}))
        run.submit(wf)
        main = wf.query_step(name="main")[0]
        out[n] = [run.text(main.outputs.artifacts["chosen"]), wf.query_step(name=skipped)[0].phase]
    return out


@case({"phase": "Succeeded", "token": "s3cr3t value", "plain": "on"})
def guide_secret_environment(run: Run) -> Any:
    """3.1.17: a step's environment from a Secret (a Kubernetes Secret on Argo, never in the
    manifest) and from a plain value."""
    from dflow import Secret

    t = sh(
        "env",
        "printf '%s' \"$TOKEN\" > /tmp/token; printf '%s' \"$PLAIN\" > /tmp/plain",
        token=None,
        plain=None,
    )
    t.envs = {"TOKEN": Secret("s3cr3t value"), "PLAIN": "on"}
    wf = Workflow(name="secret")
    wf.add(Step("env", t))
    phase = run.submit(wf)
    return {"phase": phase, **params(wf.query_step(name="env")[0])}


DISPATCHER_IMAGE = "conformance.test/dpdispatcher:1.1"


@case({"phase": "Succeeded", "count": "7", "out": {"copy.txt": "payload\n", "msg.txt": "hi"}})
def guide_dispatcher_executor(run: Run) -> Any:
    """3.1.14/3.1.15: a script step run through DPDispatcher (Shell batch system, local
    context): on one machine locally, inside the step's pod (an image with dpdispatcher) on
    Argo."""
    from dflow_executor_dispatcher import DispatcherExecutor

    if run.engine == "argo":
        from conformance.images import python_image, register_image

        register_image(
            DISPATCHER_IMAGE,
            python_image(DISPATCHER_IMAGE, "3.11", requirements=("dpdispatcher==1.1.0",)),
        )
    t = ShellOPTemplate(
        name="hpc",
        image="alpine:3",
        script=(
            "mkdir -p /tmp/out\nprintf '%s' '{{inputs.parameters.msg}}' > /tmp/out/msg.txt\n"
            "cat /tmp/inputs/artifacts/data/* > /tmp/out/copy.txt\necho -n 7 > /tmp/count\n"
        ),
    )
    t.inputs.parameters = {"msg": InputParameter()}
    t.inputs.artifacts = {"data": InputArtifact(path="/tmp/inputs/artifacts/data")}
    t.outputs.parameters = {"count": OutputParameter(value_from_path="/tmp/count")}
    t.outputs.artifacts = {"out": OutputArtifact(path="/tmp/out")}
    Path("data.txt").write_text("payload\n")
    ex = DispatcherExecutor(
        machine_dict={
            "batch_type": "Shell",
            "context_type": "LocalContext",
            "remote_root": str(run.workdir / "remote"),
        },
        image=DISPATCHER_IMAGE,
    )
    ex.argo_check_interval = 0.2  # the Shell "scheduler" is a local process
    wf = Workflow(name="disp")
    wf.add(
        Step(
            "run",
            t,
            parameters={"msg": "hi"},
            artifacts={"data": upload_artifact("data.txt")},
            executor=ex,
        )
    )
    phase = run.submit(wf)
    step = wf.query_step(name="run")[0]
    return {
        "phase": phase,
        "count": step.outputs.parameters["count"].value,
        "out": run.text(step.outputs.artifacts["out"]),
    }


# -- the test ----------------------------------------------------------------------------------


# cases whose manifests use a field the v3.7.18 swagger types differently (memoize.cache as
# v4's name-only reference, see render/memoize.py): checked against v4.1.2's API instead
V4_API = {"guide_reuse_steps"}


def _v4_api(request, monkeypatch) -> None:
    import argo_server

    def clear() -> None:
        argo_server._swagger.cache_clear()
        argo_server._body_validator.cache_clear()

    monkeypatch.setattr(argo_server, "SWAGGER", "swagger-v4.1.2.json")
    clear()
    request.addfinalizer(clear)  # runs before monkeypatch restores the v3.7.18 file


def _params():
    for name in sorted(CASES):
        for engine in ("local", "argo"):
            reason = XFAIL.get((name, engine))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(name, engine, id=f"{name}-{engine}", marks=marks)


@pytest.fixture
def run(request, tmp_path, monkeypatch, example):
    from dflow import config, s3_config

    engine = request.node.callspec.params["engine"]
    monkeypatch.chdir(tmp_path)
    if engine == "local":
        monkeypatch.setitem(config, "mode", "debug")
        return Run("local", tmp_path, example, hostpath=False, monkeypatch=monkeypatch)
    from argo_server import TOKEN

    server = request.getfixturevalue("emulated_server")
    # progress reaches a node only when the executor reports it (every minute by default);
    # the cluster reports often, as an admin sets ARGO_PROGRESS_PATCH_TICK_DURATION
    server.emulator.cluster.progress_ticks = (0.2, 0.1)
    seaweed = request.getfixturevalue("seaweedfs")
    repo = request.getfixturevalue("argo_repository")
    monkeypatch.setitem(config, "mode", "default")
    monkeypatch.setitem(config, "host", server.url)
    monkeypatch.setitem(config, "token", TOKEN)
    monkeypatch.setitem(config, "k8s_api_server", request.getfixturevalue("emulated_kube").url)
    if request.node.callspec.params["name"] in V4_API:
        _v4_api(request, monkeypatch)
    for key, value in {
        "endpoint": seaweed.endpoint,
        "access_key": seaweed.access_key,
        "secret_key": seaweed.secret_key,
        "secure": False,
        "bucket_name": repo.bucket,
        "prefix": "",
    }.items():
        monkeypatch.setitem(s3_config, key, value)
    return Run(
        "argo", tmp_path, example, hostpath=True, emulator=server.emulator, monkeypatch=monkeypatch
    )


@pytest.mark.parametrize(("name", "engine"), list(_params()))
def test_same_results_on_both_engines(name, engine, run):
    got = CASES[name](run)
    assert got == EXPECTED[name], run.explain()


# examples of the user guide (issue 13) the harness does not run as such; each runs on the local
# engine in tests/test_examples_guide.py, and the feature it shows runs on both engines in the
# guide_* case named. A case added for an example removes its name from here.
NOT_YET_ON_THE_HARNESS = {
    "argo_submit": "renders and lints only: it is the Argo submission itself",
    "dispatcher": "guide_dispatcher_executor",
    "executors": "an executor's render() on Argo: tests/test_executors_argo.py",
    "local_engine": "the local engine's own layout",
    "names": "names are checked before any engine",
    "optional_artifacts": "guide_optional_input_artifact",
    "output_defaults": "guide_output_parameter_defaults",
    "progress": "guide_progress",
    "python_packages": "guide_upload_packages",
    "reuse": "guide_keys, guide_reuse_steps",
    "slurm": "renders and lints only: needs a Slurm cluster",
    "storage": "a custom storage client with the local engine's debug_s3",
    "subpath_slices": "guide_slices_sub_path_and_group_size",
    "upload_download": "example_quickstart",
    "workflow_management": "every case (query_status, query_step)",
}


def test_cases_cover_every_example():
    examples = {p.stem for p in (Path(__file__).parents[1] / "examples").glob("*.py")}
    covered = {n.removeprefix("example_") for n in CASES if n.startswith("example_")}
    assert covered == examples - set(NOT_YET_ON_THE_HARNESS)
    assert not covered & set(NOT_YET_ON_THE_HARNESS)
    assert json.dumps(sorted(CASES))  # names are plain

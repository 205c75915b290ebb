"""OPs for tests/test_cache*.py: each leaves one file per computation in ``log`` (the count);
the helpers that run and read their workflows. Pods import this module for its OPs: no pytest
here (the ``local`` fixture is in cache_fixtures.py)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from dflow import Step, Workflow, upload_artifact
from dflow.python import OP, Artifact, PythonOPTemplate, Slices


def run(wf: Workflow) -> str:
    """Submit ``wf``, wait, and check it succeeded; its id."""
    wf.submit()
    wf.wait()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    return wf.id


def step_log(wf: Workflow, step: str) -> str:
    """The log of ``wf``'s step ``step`` on the local engine (run from ``local``)."""
    return Path("runs", wf.id, wf.query_step(name=step)[0].id, "log.txt").read_text()


def files_holding(top: Path, text: str) -> list[str]:
    """The files under ``top`` that contain ``text`` (a secret must be in none)."""
    found = []
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            if text.encode() in Path(dirpath, name).read_bytes():
                found.append(os.path.join(dirpath, name))
    return found


def _mark(log: str, what: str) -> None:
    Path(log, f"{what}-{uuid.uuid4().hex}").touch()


def computed(log: Path, what: str = "") -> int:
    """How many computations (of ``what``) left their mark in ``log``."""
    return len([p for p in os.listdir(log) if p.startswith(what)])


@OP.function
def square(x: int, log: str) -> {"y": int}:
    _mark(log, f"square-{x}")
    return {"y": x * x}


@OP.function
def total(ys: list, log: str) -> {"s": int, "report": Artifact(Path)}:
    _mark(log, "total")
    Path("report.txt").write_text(f"sum {sum(ys)}\n")
    return {"s": sum(ys), "report": Path("report.txt")}


@OP.function
def count_words(text: Artifact(Path), log: str) -> {"n": int}:
    _mark(log, "count")
    return {"n": len(Path(text).read_text().split())}


def fan_out(
    xs: list, log: Path, cache_total: bool | None = True, image: str | None = None
) -> Workflow:
    """square over ``xs`` (sliced), then total of the squares (in ``image`` on Argo)."""
    wf = Workflow(name="cache-fan")
    sliced = Slices(input_parameter=["x"], output_parameter=["y"])
    sq = Step(
        "square",
        PythonOPTemplate(square, slices=sliced, image=image),
        parameters={"x": xs, "log": str(log)},
        cache=True,
    )
    wf.add(sq)
    tot = Step(
        "total",
        PythonOPTemplate(total, image=image),
        parameters={"ys": sq.outputs.parameters["y"], "log": str(log)},
        cache=cache_total,
    )
    wf.add(tot)
    return wf


def words(path: Path, log: Path) -> Workflow:
    wf = Workflow(name="cache-words")
    wf.add(
        Step(
            "count",
            PythonOPTemplate(count_words),
            artifacts={"text": upload_artifact(str(path))},
            parameters={"log": str(log)},
            cache=True,
        )
    )
    return wf


@OP.function
def flaky(x: int, log: str) -> {"y": int}:
    """Fails (transiently) on its first attempt in ``log``, then succeeds."""
    _mark(log, "flaky")
    if computed(Path(log), "flaky") == 1:
        from dflow.python import TransientError

        raise TransientError("first attempt fails")
    return {"y": x + 1}


def retried(log: Path) -> Workflow:
    wf = Workflow(name="cache-retry")
    tmpl = PythonOPTemplate(flaky, retry_on_transient_error=2, cache=True)
    wf.add(Step("flaky", tmpl, parameters={"x": 1, "log": str(log)}))
    return wf


#: appends a line to ``<log>/script-runs`` each time it runs: the count of computations
WORDS_SCRIPT = """\
echo run >> {{inputs.parameters.log}}/script-runs
mkdir -p /tmp/outputs/artifacts/out /tmp/outputs/parameters
cat $(find -L /tmp/inputs/artifacts/text -name '*.txt') > /tmp/outputs/artifacts/out/copy.txt
words=$(wc -w < /tmp/outputs/artifacts/out/copy.txt)
echo $(( {{inputs.parameters.n}} * words )) > /tmp/outputs/parameters/y
"""


def script_runs(log: Path) -> int:
    """How many times the script of :func:`script_words` ran."""
    try:
        return len(Path(log, "script-runs").read_text().splitlines())
    except FileNotFoundError:
        return 0


def script_words(
    n: int, text: Path, log: Path, cache: bool | None = True, image: str | None = "alpine:3.19"
) -> Workflow:
    """A shell step: ``y`` = n times the words of ``text``, ``out`` a copy of ``text``."""
    from dflow import (
        InputArtifact,
        InputParameter,
        OutputArtifact,
        OutputParameter,
        ShellOPTemplate,
    )

    tmpl = ShellOPTemplate(name="words-sh", image=image, script=WORDS_SCRIPT, cache=cache)
    tmpl.inputs.parameters = {"n": InputParameter(), "log": InputParameter()}
    tmpl.inputs.artifacts = {"text": InputArtifact(path="/tmp/inputs/artifacts/text")}
    tmpl.outputs.parameters = {"y": OutputParameter(value_from_path="/tmp/outputs/parameters/y")}
    tmpl.outputs.artifacts = {"out": OutputArtifact(path="/tmp/outputs/artifacts/out")}
    wf = Workflow(name="cache-sh")
    wf.add(
        Step(
            "words",
            tmpl,
            parameters={"n": n, "log": str(log)},
            artifacts={"text": upload_artifact(str(text))},
        )
    )
    return wf


def sent(xs: list, log: Path, executor, name: str = "cache-exec") -> Workflow:
    """square over ``xs`` (sliced), then total of the squares: both as jobs of ``executor``."""
    wf = Workflow(name=name)
    sliced = Slices(input_parameter=["x"], output_parameter=["y"])
    sq = Step(
        "square",
        PythonOPTemplate(square, slices=sliced),
        parameters={"x": xs, "log": str(log)},
        executor=executor,
        cache=True,
    )
    tot = Step(
        "total",
        PythonOPTemplate(total),
        parameters={"ys": sq.outputs.parameters["y"], "log": str(log)},
        executor=executor,
        cache=True,
    )
    wf.add(sq)
    wf.add(tot)
    return wf

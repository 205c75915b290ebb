"""Default values of output parameters: used when the value is missing or the step is skipped.

    python examples/output_defaults.py

``OutputParameter(default=...)`` (or ``template.outputs.parameters[name].default = ...``) of a
template supplies the value when its source produced nothing (a file the script did not write)
or when the step did not run (its ``when`` was false), so the steps that follow still get a
value.
"""

from __future__ import annotations

from dflow import (
    InputParameter,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Steps,
    Workflow,
)
from dflow.python import OP, PythonOPTemplate


def search_template() -> ShellOPTemplate:
    """Writes ``/tmp/hit.txt`` only when it finds ``needle`` in ``haystack``."""
    t = ShellOPTemplate(
        name="search",
        image="alpine:3.20",
        script=(
            "case '{{inputs.parameters.haystack}}' in *{{inputs.parameters.needle}}*) "
            "echo found > /tmp/hit.txt;; esac"
        ),
    )
    t.inputs.parameters = {"haystack": InputParameter(), "needle": InputParameter()}
    t.outputs.parameters = {
        "hit": OutputParameter(value_from_path="/tmp/hit.txt", default="not found")
    }
    return t


@OP.function
def double(x: int) -> {"y": int}:
    return {"y": 2 * x}


def build(x: int = 3) -> Workflow:
    found = Step("found", search_template(), parameters={"haystack": "abc", "needle": "b"})
    missing = Step("missing", search_template(), parameters={"haystack": "abc", "needle": "z"})
    # a Steps template whose output comes from a step that may be skipped: the default of
    # the skipped step's template is its output, and so the Steps' output
    maybe = Steps(name="maybe-double")
    maybe.inputs.parameters = {"x": InputParameter(type=int)}
    doubler = PythonOPTemplate(double)
    doubler.outputs.parameters["y"].default = 0
    run = Step(
        "double",
        doubler,
        parameters={"x": maybe.inputs.parameters["x"]},
        when="%s > 5" % maybe.inputs.parameters["x"],
    )
    maybe.add(run)
    maybe.outputs.parameters = {
        "y": OutputParameter(value_from_parameter=run.outputs.parameters["y"])
    }
    wf = Workflow(name="output-defaults")
    wf.add([found, missing, Step("maybe", maybe, parameters={"x": x})])
    return wf


def main() -> Workflow:
    wf = build()
    wf.submit()
    for name, param in (("found", "hit"), ("missing", "hit"), ("maybe", "y")):
        step = wf.query_step(name=name)[0]
        print(f"{name}: {step.outputs.parameters[param].value!r} ({step.phase})")
    return wf


if __name__ == "__main__":
    main()

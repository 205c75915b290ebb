"""Conditions: a step that runs and a skipped one (no dir for it)."""

from dflow import Step, Workflow
from dflow.python import PythonOPTemplate
from ops import Square, result

wf = Workflow(name="when")
a = Step("a", PythonOPTemplate(Square), parameters={"x": 3})
b = Step(
    "b",
    PythonOPTemplate(Square),
    parameters={"x": a.outputs.parameters["y"]},
    when="%s > 5" % a.outputs.parameters["y"],
)
c = Step(
    "c", PythonOPTemplate(Square), parameters={"x": 1}, when="%s < 5" % a.outputs.parameters["y"]
)
wf.add(a)
wf.add([b, c])
wf.submit()
result(wf, ran=sorted(s.displayName for s in wf.query_step() if s.type == "Pod"))

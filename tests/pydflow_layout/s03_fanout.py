"""A with_param fan-out over a literal list."""

from dflow import Step, Workflow
from dflow.python import PythonOPTemplate
from ops import Square, result

wf = Workflow(name="fanout")
wf.add(Step("sq", PythonOPTemplate(Square), parameters={"x": "{{item}}"}, with_param=[1, 2, 3]))
wf.submit()
result(
    wf,
    y=sorted(s.outputs.parameters["y"].value for s in wf.query_step(name="sq") if s.type == "Pod"),
)

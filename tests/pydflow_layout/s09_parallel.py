"""A group of parallel steps, then a step."""

from dflow import Step, Workflow
from dflow.python import PythonOPTemplate
from ops import Square, result

wf = Workflow(name="par")
wf.add(
    [
        Step("p1", PythonOPTemplate(Square), parameters={"x": 1}),
        Step("p2", PythonOPTemplate(Square), parameters={"x": 2}),
    ]
)
wf.add(Step("p3", PythonOPTemplate(Square), parameters={"x": 3}))
wf.submit()
result(wf)

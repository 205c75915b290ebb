"""A step that fails after one that succeeded: the workflow fails."""

from dflow import Step, Workflow
from dflow.python import PythonOPTemplate
from ops import Boom, Square, result

wf = Workflow(name="fail")
wf.add(Step("ok", PythonOPTemplate(Square), parameters={"x": 2}))
wf.add(Step("boom", PythonOPTemplate(Boom), parameters={"x": 1}))
wf.submit()
result(wf)

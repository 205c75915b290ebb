"""Keyed fan-out items: each item's dir is its rendered key."""

from dflow import Step, Workflow, argo_range
from dflow.python import PythonOPTemplate
from ops import Square, result

wf = Workflow(name="keys")
wf.add(
    Step(
        "sq",
        PythonOPTemplate(Square),
        parameters={"x": "{{item}}"},
        with_param=argo_range(3),
        key="sq-{{item}}",
    )
)
wf.submit()
result(wf, keys=sorted(wf.query_keys_of_steps()))

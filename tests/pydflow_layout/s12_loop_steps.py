"""A with_sequence loop over a keyed Steps template holding a keyed step."""

from dflow import InputParameter, Step, Steps, Workflow, argo_sequence
from dflow.python import PythonOPTemplate
from ops import Square, result

inner = Steps(name="inner")
inner.inputs.parameters = {"i": InputParameter(type=int)}
inner.add(
    Step(
        "sq",
        PythonOPTemplate(Square),
        parameters={"x": inner.inputs.parameters["i"]},
        key="sq-%s" % inner.inputs.parameters["i"],
    )
)
wf = Workflow(name="seqkey")
wf.add(
    Step(
        "loop",
        inner,
        parameters={"i": "{{item}}"},
        with_sequence=argo_sequence(2),
        key="loop-{{item}}",
    )
)
wf.submit()
result(wf, keys=sorted(wf.query_keys_of_steps()))

"""Global output parameter and artifact (links under <wf>/outputs/)."""

from dflow import Step, Workflow
from dflow.python import PythonOPTemplate
from ops import Dup, result

wf = Workflow(name="global")
tmpl = PythonOPTemplate(
    Dup, output_parameter_global_name={"msg": "gmsg"}, output_artifact_global_name={"out": "gout"}
)
wf.add(Step("dup", tmpl, parameters={"msg": "G", "num": 3}))
wf.submit()
g = wf.query_global_outputs()
result(wf, gmsg=g.parameters["gmsg"].value, arts=sorted(g.artifacts))

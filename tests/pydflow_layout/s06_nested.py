"""A keyed DAG inside a Steps template, template outputs from a step's output."""

from dflow import DAG, InputParameter, OutputParameter, Step, Steps, Task, Workflow
from dflow.python import PythonOPTemplate
from ops import Square, result

dag = DAG(name="inner")
dag.inputs.parameters = {"x": InputParameter(type=int)}
t1 = Task(
    "t1", PythonOPTemplate(Square), parameters={"x": dag.inputs.parameters["x"]}, key="t1-key"
)
t2 = Task("t2", PythonOPTemplate(Square), parameters={"x": t1.outputs.parameters["y"]})
dag.add(t1)
dag.add(t2)
dag.outputs.parameters = {
    "z": OutputParameter(value_from_parameter=t2.outputs.parameters["y"], type=int)
}
steps = Steps(name="outer")
steps.inputs.parameters = {"x": InputParameter()}
inner = Step("inner", dag, parameters={"x": steps.inputs.parameters["x"]}, key="inner-key")
steps.add(inner)
steps.outputs.parameters = {
    "z": OutputParameter(value_from_parameter=inner.outputs.parameters["z"])
}
wf = Workflow(name="nested")
wf.add(Step("outer", steps, parameters={"x": 2}))
wf.submit()
result(wf, z=wf.query_step(name="outer")[0].outputs.parameters["z"].value)

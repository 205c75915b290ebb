"""A Python script template writing its output parameter to a file."""

from dflow import InputParameter, OutputParameter, PythonScriptOPTemplate, Step, Workflow
from ops import result

tmpl = PythonScriptOPTemplate(
    name="pys",
    image="python:3.8",
    script="x = {{inputs.parameters.x}}\nopen('/tmp/y.txt', 'w').write(str(x * 10))\n",
)
tmpl.inputs.parameters = {"x": InputParameter()}
tmpl.outputs.parameters = {"y": OutputParameter(value_from_path="/tmp/y.txt")}
wf = Workflow(name="pyscript")
wf.add(Step("pys", tmpl, parameters={"x": 4}))
wf.submit()
result(wf, y=wf.query_step(name="pys")[0].outputs.parameters["y"].value)

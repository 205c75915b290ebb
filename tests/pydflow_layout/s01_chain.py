"""Python OPs chained by a parameter and an artifact."""

from dflow import Step, Workflow
from dflow.python import PythonOPTemplate
from ops import Cat, Dup, result

wf = Workflow(name="chain")
dup = Step("dup", PythonOPTemplate(Dup), parameters={"msg": "Hi", "num": 2})
cat = Step("cat", PythonOPTemplate(Cat), artifacts={"inp": dup.outputs.artifacts["out"]})
wf.add(dup)
wf.add(cat)
wf.submit()
result(wf, text=wf.query_step(name="cat")[0].outputs.parameters["text"].value)

"""A DAG: a task, then a fan-out task depending on it."""

from dflow import DAG, Task, Workflow
from dflow.python import PythonOPTemplate
from ops import Square, result

dag = DAG(name="d")
t0 = Task("t0", PythonOPTemplate(Square), parameters={"x": 2})
t1 = Task(
    "t1",
    PythonOPTemplate(Square),
    parameters={"x": "{{item}}"},
    with_param=[3, 4],
    dependencies=[t0],
)
dag.add(t0)
dag.add(t1)
wf = Workflow(name="dagfan", dag=dag)
wf.submit()
result(wf)

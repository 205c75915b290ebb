"""Steps (sequential groups of parallel steps) and a DAG with inferred and explicit dependencies."""

from __future__ import annotations

from dflow import DAG, InputParameter, OutputParameter, Step, Steps, Task, Workflow
from dflow.python import OP, PythonOPTemplate


@OP.function
def add(a: int, b: int) -> {"c": int}:
    return {"c": a + b}


@OP.function
def double(x: int) -> {"y": int}:
    return {"y": 2 * x}


def build_steps() -> Workflow:
    add_t, double_t = PythonOPTemplate(add), PythonOPTemplate(double)
    inner = Steps(name="add-then-double")
    inner.inputs.parameters = {"a": InputParameter(type=int), "b": InputParameter(type=int)}
    s1 = Step(
        "add",
        add_t,
        parameters={"a": inner.inputs.parameters["a"], "b": inner.inputs.parameters["b"]},
    )
    s2 = Step("double", double_t, parameters={"x": s1.outputs.parameters["c"]})
    inner.add(s1)
    inner.add(s2)
    inner.outputs.parameters = {
        "result": OutputParameter(value_from_parameter=s2.outputs.parameters["y"], type=int)
    }
    wf = Workflow(name="steps")
    first = [
        Step("left", inner, parameters={"a": 1, "b": 2}),
        Step("right", inner, parameters={"a": 10, "b": 20}),
    ]
    wf.add(first)
    wf.add(
        Step(
            "total",
            add_t,
            parameters={
                "a": first[0].outputs.parameters["result"],
                "b": first[1].outputs.parameters["result"],
            },
        )
    )
    return wf


def build_dag() -> Workflow:
    add_t, double_t = PythonOPTemplate(add), PythonOPTemplate(double)
    dag = DAG(name="diamond")
    a = Task("a", add_t, parameters={"a": 1, "b": 1})
    b = Task("b", double_t, parameters={"x": a.outputs.parameters["c"]})
    c = Task("c", double_t, parameters={"x": a.outputs.parameters["c"]})
    d = Task(
        "d", add_t, parameters={"a": b.outputs.parameters["y"], "b": c.outputs.parameters["y"]}
    )
    e = Task("e", add_t, parameters={"a": 0, "b": 0}, dependencies=[d])
    dag.add([a, b, c, d, e])
    return Workflow(name="dag", dag=dag)


build = build_steps


def main() -> list[Workflow]:
    wf = build_steps()
    wf.submit()
    total = wf.query_step(name="total")[0].outputs.parameters["c"].value
    print(f"steps: {wf.query_status()}, total = {total}")  # (1+2)*2 + (10+20)*2 = 66
    dag = build_dag()
    dag.submit()
    print(
        f"dag: {dag.query_status()}, d = {dag.query_step(name='d')[0].outputs.parameters['c'].value}"
    )
    return [wf, dag]


if __name__ == "__main__":
    main()

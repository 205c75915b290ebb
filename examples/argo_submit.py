"""Going to Argo: the same workflow, rendered, checked and submitted to an Argo Server.

    python examples/argo_submit.py              # no Argo configured: render and check only
    DFLOW_MODE=default python examples/argo_submit.py   # submit (dflow.toml: engine = "argo")

With the argo engine selected (``engine = "argo"`` in dflow.toml, or ``config["mode"] =
"default"``) and the server and store configured (docs/argo.md), ``submit()`` renders the
workflow, checks it as Argo's validator would, uploads what the pods need and creates it;
``wait()`` and ``query_step()`` work as on the local engine. Without a cluster, as in the test
suite, this script renders the manifest and runs the same checks (``wf.lint()``), which need
no network, and says so.
"""

from __future__ import annotations

from dflow import Step, Workflow, argo_range
from dflow.backends import engine_name
from dflow.python import OP, PythonOPTemplate


@OP.function
def square(x: int) -> {"y": int}:
    return {"y": x * x}


@OP.function
def total(ys: list) -> {"sum": int}:
    return {"sum": sum(ys)}


def build() -> Workflow:
    fan = Step(
        "square",
        PythonOPTemplate(square, image="python:3.11"),
        parameters={"x": "{{item}}"},
        with_param=argo_range(5),
    )
    add = Step(
        "total",
        PythonOPTemplate(total, image="python:3.11"),
        parameters={"ys": fan.outputs.parameters["y"]},
    )
    wf = Workflow(name="argo-submit")
    wf.add(fan)
    wf.add(add)
    return wf


def main() -> Workflow | dict:
    wf = build()
    if engine_name() == "argo":
        wf.submit()
        print(f"submitted {wf.id}: {wf.wait()}")
        print(f"sum = {wf.query_step(name='total')[0].outputs.parameters['sum'].value}")
        return wf
    wf.lint()  # renders, then runs Argo's validator checks (no network)
    manifest = wf.to_dict()
    templates = [t["name"] for t in manifest["spec"]["templates"]]
    print(f"no Argo engine configured (engine: {engine_name()}): rendered and checked only")
    print(f"{manifest['kind']} {manifest['metadata']}: templates {templates}")
    return manifest


if __name__ == "__main__":
    main()

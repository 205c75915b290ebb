"""The local engine (pydflow's debug mode): where a run's files are, and what they hold.

    python examples/local_engine.py

With nothing configured, workflows run here: each run is a directory under
``config["debug_workdir"]`` (``[engines.local] workdir``; the current directory by default)
holding the workflow's ``status`` and one directory per step, named by its key or its name,
with the step's ``inputs``, ``outputs``, ``phase``, ``type``, ``log.txt``, ``script`` and
``workdir``. pydflow scripts that set ``config["mode"] = "debug"`` run unchanged.
"""

from __future__ import annotations

from pathlib import Path

from dflow import Step, Workflow, config
from dflow.python import OP, PythonOPTemplate


@OP.function
def hello(name: str) -> {"msg": str}:
    print(f"saying hello to {name}")
    return {"msg": f"hello {name}"}


def main() -> Workflow:
    config["mode"] = "debug"  # pydflow's switch; the local engine is also the default
    wf = Workflow(name="local-engine")
    wf.add(Step("hello", PythonOPTemplate(hello), parameters={"name": "world"}, key="say-hello"))
    wf.submit()
    root = Path(config["debug_workdir"]) / wf.id
    step = root / "say-hello"
    print(f"{wf.id}: {(root / 'status').read_text().strip()}")
    print(f"step files: {sorted(p.name for p in step.iterdir())}")
    print(f"output msg: {(step / 'outputs' / 'parameters' / 'msg').read_text()}")
    print(f"log: {(step / 'log.txt').read_text().strip()}")
    return wf


if __name__ == "__main__":
    main()

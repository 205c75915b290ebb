"""Quick numbers for the local engine (not a test): python profile_local_engine.py [n_slices]."""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from dflow import Step, Workflow, config  # noqa: E402
from dflow.python import PythonOPTemplate, Slices  # noqa: E402
from local_engine_ops import Add, Square, Sum  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    config["mode"] = "local"
    config["debug_workdir"] = tempfile.mkdtemp()
    chain = Workflow("chain")
    prev = None
    for i in range(50):
        s = Step(f"s{i}", PythonOPTemplate(Add),
                 parameters={"a": prev.outputs.parameters["c"] if prev else 0, "b": 1})
        chain.add(s)
        prev = s
    t = time.perf_counter()
    chain.submit()
    per_step = (time.perf_counter() - t) / 50
    fan = Step("sq", PythonOPTemplate(Square, slices=Slices(
        input_parameter=["x"], output_parameter=["y"])), parameters={"x": list(range(n))})
    red = Step("sum", PythonOPTemplate(Sum), parameters={"xs": fan.outputs.parameters["y"]})
    wf = Workflow("fan")
    wf.add(fan)
    wf.add(red)
    t = time.perf_counter()
    wf.submit()
    fan_s = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"chain of 50 steps: {per_step * 1000:.1f} ms/step (incl. pool start); "
          f"{n}-slice fan-out + reduce: {fan_s:.2f} s; peak RSS {peak:.0f} MB; "
          f"status {wf.query_status()}")


if __name__ == "__main__":
    main()

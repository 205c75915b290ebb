"""Quick numbers for the local engine (not a test).

    python profile_local_engine.py [chain|fan|all] [--repeat K] [--slices N] [--profile]

``chain``: a 50-step chain of function OPs passing a parameter and a file artifact; ms/step is
the best of K runs of the whole submit (pool start included) over 50, and the marginal cost
(T(100) - T(50)) / 50. ``fan``: an N-slice fan-out plus a reduce step. ``--profile``: cProfile
of one 50-chain, top 25 by cumulative time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

from dflow import Step, Workflow, config, upload_artifact
from dflow.python import OP, Artifact, PythonOPTemplate, Slices
from local_engine_ops import Square, Sum


@OP.function
def inc(x: int, inp: Artifact(Path)) -> {"y": int, "out": Artifact(Path)}:
    value = int(Path(inp).read_text())
    Path("out.txt").write_text(str(value + 1))
    return {"y": x + 1, "out": Path("out.txt")}


def chain_seconds(n: int, seed: object) -> float:
    wf = Workflow("chain")
    template = PythonOPTemplate(inc)
    x, art = 0, seed
    for i in range(n):
        step = Step(f"inc-{i}", template, parameters={"x": x}, artifacts={"inp": art})
        wf.add(step)
        x, art = step.outputs.parameters["y"], step.outputs.artifacts["out"]
    t = time.perf_counter()
    wf.submit()
    seconds = time.perf_counter() - t
    assert wf.query_status() == "Succeeded", wf.query_status()
    return seconds


def fan_seconds(n: int) -> float:
    fan = Step(
        "sq",
        PythonOPTemplate(Square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
        parameters={"x": list(range(n))},
    )
    red = Step("sum", PythonOPTemplate(Sum), parameters={"xs": fan.outputs.parameters["y"]})
    wf = Workflow("fan")
    wf.add(fan)
    wf.add(red)
    t = time.perf_counter()
    wf.submit()
    assert wf.query_status() == "Succeeded"
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", nargs="?", default="all", choices=("chain", "fan", "all"))
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--slices", type=int, default=1000)
    p.add_argument("--profile", action="store_true")
    a = p.parse_args()
    config["mode"] = "local"
    config["debug_workdir"] = tempfile.mkdtemp()
    os.chdir(config["debug_workdir"])
    Path("seed.txt").write_text("0")
    seed = upload_artifact("seed.txt")
    if a.profile:
        import cProfile
        import pstats

        chain_seconds(10, seed)
        prof = cProfile.Profile()
        prof.enable()
        chain_seconds(50, seed)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
        return
    if a.what in ("chain", "all"):
        t50 = min(chain_seconds(50, seed) for _ in range(a.repeat))
        t100 = min(chain_seconds(100, seed) for _ in range(a.repeat))
        print(
            f"chain of 50: {t50 * 1000 / 50:.1f} ms/step (best of {a.repeat}, pool start "
            f"included); marginal (T100-T50)/50: {(t100 - t50) * 1000 / 50:.1f} ms/step; "
            f"load {os.getloadavg()[0]:.1f}"
        )
    if a.what in ("fan", "all"):
        print(f"{a.slices}-slice fan-out + reduce: {fan_seconds(a.slices):.2f} s")


if __name__ == "__main__":
    main()

"""Argo rendering: 1,000 steps plus a 10,000-item fan-out, rendered, validated and linted.

    .venv/bin/python benchmarks/argo_render_bench.py

Prints the time of each phase and the manifest size, then runs the same workflow through
pydflow's ``to_yaml()`` (pydflow 1.8.134 in its own venv, ``.work/bench/pydflow-venv``, made
once as ``local_engine_bench.py`` does; ``upload_dflow=False`` so nothing touches the network) and prints both times and the ratio.
Targets: render under 1 s, manifest under ~1 MB, faster than pydflow.

Then the growth check: a 1,000-item and a 100,000-item sliced fan-out whose items come from a
previous step's output parameter, rendered and linted; the issue's targets are render + lint
under 2 s at 100,000 items and a manifest whose size does not depend on the item count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins" / "engine_argo" / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

N_STEPS, FAN_OUT = 1000, 10_000

# the same workflow for both libraries: module-level OP, 1,000 chained steps, one fan-out
WORKFLOW_SOURCE = """
from dflow import Step, Workflow, argo_range
from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate


class AddOne(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    @OP.exec_sign_check
    def execute(self, op_in):
        return OPIO({"y": op_in["x"] + 1})


def build(n_steps, fan_out, **kw):
    tmpl = PythonOPTemplate(AddOne, image="python:3.11", **kw)
    wf = Workflow(name="bench")
    prev = Step("s0", tmpl, parameters={"x": 0})
    wf.add(prev)
    for i in range(1, n_steps):
        step = Step(f"s{i}", tmpl, parameters={"x": prev.outputs.parameters["y"]})
        wf.add(step)
        prev = step
    wf.add(Step("fan", tmpl, parameters={"x": "{{item}}"}, with_param=argo_range(fan_out)))
    return wf


class Count(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"n": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"xs": list})

    @OP.exec_sign_check
    def execute(self, op_in):
        return OPIO({"xs": list(range(op_in["n"]))})


def build_sliced(n_items):
    from dflow.python import Slices

    wf = Workflow(name="growth")
    count = Step("count", PythonOPTemplate(Count, image="python:3.11"), parameters={"n": n_items})
    sliced = PythonOPTemplate(
        AddOne, image="python:3.11", slices=Slices(input_parameter=["x"], output_parameter=["y"])
    )
    wf.add(count)
    wf.add(Step("fan", sliced, parameters={"x": count.outputs.parameters["xs"]}))
    return wf
"""

PYDFLOW_SCRIPT = (
    WORKFLOW_SOURCE
    + """
import sys, time
sys.modules["bench_wf"] = sys.modules[__name__]
t0 = time.perf_counter()
wf = build(%d, %d, upload_dflow=False)
t1 = time.perf_counter()
text = wf.to_yaml()
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, len(text))
"""
)


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    import types

    import yaml
    from argo_schema import schema_errors
    from dflow_engine_argo.lint import lint
    from dflow_engine_argo.render import ArgoRenderer

    mod = types.ModuleType("bench_wf")
    mod.__file__ = str(Path(__file__).resolve())
    exec(compile(WORKFLOW_SOURCE, mod.__file__, "exec"), mod.__dict__)
    sys.modules["bench_wf"] = mod
    t_build, wf = best(lambda: mod.build(N_STEPS, FAN_OUT), 1)
    renderer = ArgoRenderer(artifact_kind="s3")
    renderer.manifest(wf)  # warm: package hashes
    t_render, manifest = best(lambda: renderer.manifest(wf))
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available
    t_yaml, text = best(lambda: yaml.dump(manifest, Dumper=dumper, sort_keys=False), 1)
    t_schema, errors = best(
        lambda: schema_errors(manifest, "v4.1.2") + schema_errors(manifest, "v3.7.18"), 1
    )
    t_lint, issues = best(lambda: lint(manifest), 1)
    assert not errors and not [i for i in issues if i.severity == "error"], (errors, issues)
    size = len(json.dumps(manifest))
    print(f"dflow: {N_STEPS} steps + {FAN_OUT}-item fan-out")
    print(
        f"  build {t_build * 1000:8.1f} ms   render {t_render * 1000:8.1f} ms   "
        f"yaml {t_yaml * 1000:8.1f} ms"
    )
    print(f"  render + schemas + lint {(t_render + t_schema + t_lint) * 1000:8.1f} ms")
    print(f"  strict schemas (2 versions) {t_schema * 1000:8.1f} ms   lint {t_lint * 1000:8.1f} ms")
    print(
        f"  manifest {size / 1024:.0f} KiB JSON, {len(text) / 1024:.0f} KiB YAML, "
        f"{len(manifest['spec']['templates'])} templates"
    )
    growth(mod, renderer, lint)
    from local_engine_bench import DEFAULT_VENV, ensure_pydflow

    py = ensure_pydflow(DEFAULT_VENV, "1.8.134")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        # a file, not -c: pydflow inlines the OP's source (else it pickles and uploads it)
        script = Path(tmp) / "pydflow_bench.py"
        script.write_text(PYDFLOW_SCRIPT % (N_STEPS, FAN_OUT))
        proc = subprocess.run(
            [str(py), str(script)], capture_output=True, text=True, cwd=tmp, timeout=600
        )
    if proc.returncode != 0:
        print("pydflow baseline failed:\n" + proc.stderr[-2000:])
        return
    p_build, p_yaml, p_size = proc.stdout.split()[-3:]
    p_build, p_yaml = float(p_build), float(p_yaml)
    ours = t_render + t_yaml
    print(
        f"pydflow: build {p_build * 1000:8.1f} ms   to_yaml {p_yaml * 1000:8.1f} ms   "
        f"manifest {int(p_size) / 1024:.0f} KiB YAML"
    )
    print(
        f"render+yaml: dflow {ours * 1000:.1f} ms vs pydflow to_yaml {p_yaml * 1000:.1f} ms "
        f"-> {p_yaml / ours:.1f}x faster"
    )


def growth(mod, renderer, lint) -> None:
    """Render + lint time and manifest size of a sliced fan-out at 1,000 and 100,000 items."""
    sizes = []
    for n in (1_000, 100_000):
        wf = mod.build_sliced(n)
        t, manifest = best(lambda wf=wf: renderer.manifest(wf))
        t_lint, _ = best(lambda manifest=manifest: lint(manifest), 1)
        sizes.append(len(json.dumps(manifest)))
        print(
            f"sliced fan-out of {n:,} items from a step output: render + lint "
            f"{(t + t_lint) * 1000:.1f} ms (target < 2000), manifest {sizes[-1]:,} B"
        )
    # the literal n itself is two digits longer; anything beyond that grows with the items
    grown = sizes[1] - sizes[0] - (len(str(100_000)) - len(str(1_000)))
    same = "the same" if grown == 0 else f"{grown:+,} B"
    print(
        f"  manifest size at 100,000 vs 1,000 items, beside n's digits: {same} (target: the same)"
    )


if __name__ == "__main__":
    main()

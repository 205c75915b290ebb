"""Every example rendered to an Argo manifest: golden files, schemas, linter, graph parity.

Golden manifests live in ``plugins/engine_argo/tests/golden/<example>.yaml``. After an
intended change of the rendering, regenerate them explicitly with

    DFLOW_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_examples_argo.py

and review the diff. The content hash of the shipped packages (which changes with any edit of
dflow) is normalised to ``<hash>``, the random suffix of a ``.pvc()`` volume path to ``<id>``.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("dflow_engine_argo.render")
pytest.importorskip("jsonschema")

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "plugins" / "engine_argo" / "tests" / "golden"
sys.path.insert(0, str(REPO / "plugins" / "engine_argo" / "tests"))

from argo_schema import assert_valid  # noqa: E402
from dflow.model.dag import DAG  # noqa: E402
from dflow.model.io import PVC, ArtifactRef, _IOBase, render_value  # noqa: E402
from dflow.model.steps import Steps  # noqa: E402

CASES = {
    "quickstart": lambda m: m.build(_s3("upload/quickstart/foo.txt")),
    "steps_and_dag": lambda m: m.build_steps(),
    "steps_and_dag-dag": lambda m: m.build_dag(),
    "loops": lambda m: m.build(),
    "conditional_outputs": lambda m: m.build(),
    "error_handling": lambda m: m.build(),
    "recurse": lambda m: m.build(),
    "slices": lambda m: m.build(),
    "optional_artifacts": lambda m: m.build(_s3("upload/optional/settings.txt")),
    "output_defaults": lambda m: m.build(),
    "reuse": lambda m: m.build(),
    "executors": lambda m: m.build(),
    "progress": lambda m: m.build(),
    "workflow_management": lambda m: m.build(),
    "names": lambda m: m.build(),
    "argo_submit": lambda m: m.build(),
    "shared_volume": lambda m: m.build(),
}


def _s3(key):
    from dflow.storage import S3Artifact

    return S3Artifact(key=key)


class _Literal(str):
    pass


def _dumper():
    class D(yaml.SafeDumper):
        pass

    def literal(dumper, data):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")

    D.add_representer(_Literal, literal)
    return D


def _literals(obj):
    if isinstance(obj, dict):
        return {k: _literals(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_literals(v) for v in obj]
    if isinstance(obj, str) and "\n" in obj and not obj.endswith((" ", "\t")) and " \n" not in obj:
        return _Literal(obj)
    return obj


def normalise(manifest: dict) -> dict:
    text = yaml.safe_dump(manifest, sort_keys=False)
    text = re.sub(r"dflow/packages/[0-9a-f]{32}", "dflow/packages/<hash>", text)
    # .pvc()'s volume path: the output's name and a random suffix
    text = re.sub(r"(/tmp/mnt/[a-z0-9-]+/[\w-]+?)-[a-z0-9]{5}(?![a-z0-9])", r"\1-<id>", text)
    return yaml.safe_load(text)


@pytest.fixture
def argo_render(monkeypatch):
    from dflow.config import config, s3_config
    from dflow_engine_argo.render import ArgoRenderer

    monkeypatch.setitem(config, "util_image", "python:3.11")
    monkeypatch.setitem(config, "util_image_pull_policy", None)
    monkeypatch.setitem(s3_config, "prefix", "")
    renderer = ArgoRenderer(default_image="python:3.11", artifact_kind="s3")
    return renderer


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_manifest(case, argo_render, example):
    from dflow_engine_argo.lint import check

    wf = CASES[case](example(case.split("-")[0]))
    manifest = argo_render.manifest(wf)
    assert_valid(manifest)
    check(manifest)
    got = normalise(manifest)
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("DFLOW_REGENERATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.dump(_literals(got), Dumper=_dumper(), sort_keys=False, width=100))
    assert path.exists(), f"no golden file {path}: run with DFLOW_REGENERATE_GOLDEN=1"
    assert got == yaml.safe_load(path.read_text()), (
        f"{case}: the rendered manifest differs from {path.name}; if intended, regenerate "
        "with DFLOW_REGENERATE_GOLDEN=1 and review the diff"
    )
    # the manifest reads back into a workflow that renders to the same manifest
    assert normalise(argo_render.manifest(argo_render.from_dict(manifest))) == got


# -- graph parity: what runs, with which inputs wired to which outputs --------------------------

_REF = re.compile(
    r"^{{(steps|tasks)\.([-a-zA-Z0-9]+)\.outputs\.(parameters|artifacts)\.([-\w]+)}}$"
)


def _source_text(value) -> str:
    if isinstance(value, ArtifactRef):
        value = value.artifact
    if isinstance(value, _IOBase):
        owner = value.step.name if value.step is not None else "<inputs>"
        return f"{owner}.{value.direction}.{value.kind}.{value.name}"
    if hasattr(value, "key") and not isinstance(value, str):
        return f"key:{value.full_key}"
    return render_value(value)


def _manifest_source(arg: dict) -> str:
    if "value" in arg:
        m = _REF.match(arg["value"])
        if not m:
            inp = re.match(r"^{{inputs\.(parameters|artifacts)\.([-\w]+)}}$", arg["value"])
            return f"<inputs>.inputs.{inp.group(1)}.{inp.group(2)}" if inp else arg["value"]
    else:
        if "s3" in arg:
            return f"key:{arg['s3']['key']}"
        m = _REF.match(arg.get("from", ""))
        inp = re.match(r"^{{inputs\.artifacts\.([-\w]+)}}$", arg.get("from", ""))
        if inp:
            return f"<inputs>.inputs.artifacts.{inp.group(1)}"
    step = m.group(2).removesuffix("-init-artifact")  # sliced outputs stack into the init's
    return f"{step}.outputs.{m.group(3)}.{m.group(4)}"


def model_graph(wf) -> set:
    out, seen = set(), set()

    def walk(tmpl, path):
        if id(tmpl) in seen:
            return
        seen.add(id(tmpl))
        nodes = tmpl.iter_steps()
        for s in nodes:
            ins = {
                n: _source_text(p.value)
                for n, p in s.inputs.parameters.items()
                if p.has_value
                and not (
                    n in s.template.inputs.parameters
                    and s.template.inputs.parameters[n].has_value
                    and render_value(s.template.inputs.parameters[n].value) == render_value(p.value)
                )
            }
            ins.update(
                {
                    n: _source_text(a.source)
                    for n, a in s.inputs.artifacts.items()
                    # a .pvc() volume path is linked by the step's script, not an argument
                    if a.source is not None and not isinstance(a.source, PVC)
                }
            )
            out.add((path, s.name, tuple(sorted(ins.items()))))
            if isinstance(s.template, Steps | DAG):
                walk(s.template, f"{path}/{s.name}")

    walk(wf.entrypoint, "")
    return out


def manifest_graph(manifest) -> set:
    templates = {t["name"]: t for t in manifest["spec"]["templates"]}
    out, seen = set(), set()

    def walk(name, path):
        if name in seen:
            return
        seen.add(name)
        t = templates[name]
        entries = [e for g in t.get("steps") or [] for e in g] + (t.get("dag") or {}).get(
            "tasks", []
        )
        for e in entries:
            if e["template"].startswith("dflow-"):
                continue  # renderer helpers (init-artifact, checks)
            args = e.get("arguments") or {}
            ins = {
                a["name"]: _manifest_source(a)
                for kind in ("parameters", "artifacts")
                for a in args.get(kind) or []
                if not a["name"].startswith("dflow_")
            }
            out.add((path, e["name"], tuple(sorted(ins.items()))))
            if "steps" in templates[e["template"]] or "dag" in templates[e["template"]]:
                walk(e["template"], f"{path}/{e['name']}")

    walk(manifest["spec"]["entrypoint"], "")
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_graph_parity(case, argo_render, example):
    wf = CASES[case](example(case.split("-")[0]))
    assert manifest_graph(argo_render.manifest(wf)) == model_graph(wf)

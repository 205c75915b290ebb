"""``Workflow(context=...)`` applies alike on both engines (one rule: ``dflow.contexts``).

The same workflow runs on the local engine and is rendered for Argo; the rendered script
template runs in the pod sandbox (``plugins/engine_argo/tests/render/sandbox.py``). The context
renders the workflow once and each script template (Python OPs too) on a copy: a step sees the
env it adds on both engines, and the user's templates are left as they were.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from dflow import Context, OutputParameter, ShellOPTemplate, Step, Workflow
from dflow.model.op_template import ScriptOPTemplate
from dflow.python import OP, PythonOPTemplate

pytest.importorskip("dflow_engine_argo.render")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins" / "engine_argo" / "tests" / "render"))
from dflow_engine_argo.render import ArgoRenderer  # noqa: E402
from sandbox import run_template, template  # noqa: E402


class Greeting(Context):
    """Adds an env var to every template it renders; labels the workflow."""

    def __init__(self) -> None:
        self.rendered: list[str] = []

    def render(self, obj):
        if isinstance(obj, Workflow):
            obj.labels = {**(obj.labels or {}), "greeted": "yes"}
        else:
            self.rendered.append(obj.name)
            obj.envs = {**obj.envs, "GREETING": "from-context"}
        return obj


@pytest.fixture
def local(tmp_path, monkeypatch):
    from dflow.config import config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(config, "mode", "local")
    monkeypatch.setitem(config, "debug_workdir", str(tmp_path))
    return tmp_path


def _greet() -> ShellOPTemplate:
    t = ShellOPTemplate(
        name="greet", image="alpine:3", script='echo -n "${GREETING:-none}" > /tmp/out'
    )
    t.outputs.parameters = {"out": OutputParameter(value_from_path="/tmp/out")}
    return t


def test_a_context_renders_each_script_template_on_both_engines(local):
    tmpl = _greet()
    wf = Workflow("ctx-parity", context=Greeting())
    wf.add(Step("greet", tmpl))

    manifest = ArgoRenderer().manifest(wf)
    argo_tmpl = template(manifest, "greet")
    root = local / "argo"
    root.mkdir()
    # the sandbox maps /tmp for Python scripts only: the shell script writes into it directly
    source = argo_tmpl["script"]["source"]
    argo_tmpl["script"]["source"] = source.replace("/tmp/out", str(root / "out"))
    proc = run_template(argo_tmpl, root, {})
    assert proc.returncode == 0, proc.stderr
    argo_out = (root / "out").read_text()

    wf.submit()
    assert wf.query_status() == "Succeeded"
    [step] = wf.query_step(name="greet")
    assert step.outputs.parameters["out"].value == argo_out == "from-context"
    assert "GREETING" not in tmpl.envs  # the context rendered a copy


@OP.function
def greeting() -> {"out": str}:
    return {"out": os.environ.get("GREETING", "none")}


def test_a_context_renders_python_op_templates_on_both_engines(local):
    tmpl = PythonOPTemplate(greeting)
    wf = Workflow("ctx-parity-py", context=Greeting())
    wf.add(Step("greet", tmpl))
    manifest = ArgoRenderer().manifest(wf)
    [argo_tmpl] = [t for t in manifest["spec"]["templates"] if "script" in t]
    argo_env = {e["name"]: e.get("value") for e in argo_tmpl["script"].get("env", [])}
    wf.submit()
    assert wf.query_status() == "Succeeded"
    [step] = wf.query_step(name="greet")
    assert step.outputs.parameters["out"].value == argo_env["GREETING"] == "from-context"
    assert "GREETING" not in tmpl.envs


def test_a_context_that_cannot_render_is_refused_alike(local):
    wf = Workflow("ctx-bad", context=object())
    wf.add(Step("greet", _greet()))
    with pytest.raises(TypeError, match=r"context=.* has no render\(\)"):
        ArgoRenderer().manifest(wf)
    with pytest.raises(TypeError, match=r"context=.* has no render\(\)"):
        wf.submit()


def test_a_context_leaves_steps_and_dag_templates_alone():
    from dflow import DAG, Steps, contexts

    ctx = Greeting()
    for tmpl in (Steps("s"), DAG("d")):
        assert contexts.render_template(ctx, tmpl) is tmpl
    script = _greet()
    assert isinstance(script, ScriptOPTemplate)
    copy = contexts.render_template(ctx, script)
    assert copy is not script and copy.envs["GREETING"] == "from-context"
    assert ctx.rendered == ["greet"]


def test_the_configured_default_executor_renders_for_argo_as_a_context_executor(local):
    """``executor = "slurm"`` in dflow.toml is the default executor of every step on Argo as
    on the local engine (``tests/test_hpc_workflows.py`` runs it there): the manifest is the
    one ``Workflow(context=SlurmJobTemplate(...))`` renders."""
    slurm = pytest.importorskip("dflow_executor_slurm")
    selector = {"vk": "slurm-p1"}

    def manifest(context=None):
        wf = Workflow("ctx-exec", context=context)
        wf.add(Step("greet", _greet()))
        return ArgoRenderer().manifest(wf)

    plain = manifest()
    given = manifest(slurm.SlurmJobTemplate(header="#SBATCH -p p1", node_selector=selector))
    (local / "dflow.toml").write_text(
        'executor = "slurm"\n\n[executors.slurm]\nheader = "#SBATCH -p p1"\n'
        'node_selector = {"vk" = "slurm-p1"}\n'
    )
    configured = manifest()
    assert configured != plain
    assert configured["spec"]["templates"] == given["spec"]["templates"]

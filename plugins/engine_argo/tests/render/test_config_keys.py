"""``config`` / ``s3_config`` keys and ``[engines.argo]`` settings that shape the manifest,
as pydflow documents them (reference/dflow-api.md §1.3), in ``render()``, ``to_yaml()`` and
the engine alike. Manifests pass both strict schemas and the linter (``render`` fixture)."""

from __future__ import annotations

import argo_render_ops as ops
import pytest
import yaml
from dflow import OutputArtifact, ShellOPTemplate, Step, Workflow
from dflow.python import PythonOPTemplate
from dflow.storage import S3Artifact
from dflow_engine_argo.config import ArgoConfig
from dflow_engine_argo.render import ArgoRenderer, RenderError
from sandbox import template


def _wf(*steps, **kw):
    wf = Workflow(name="cfg", **kw)
    for s in steps:
        wf.add(s)
    return wf


def _square():
    return Step("sq", PythonOPTemplate(ops.square), parameters={"x": 2})


def test_service_account_defaults_to_argo_as_pydflow(render):
    assert render(_wf(_square()))["spec"]["serviceAccountName"] == "argo"
    assert render(_wf(_square()), service_account_name="")["spec"].get("serviceAccountName") is None
    m = ArgoRenderer(ArgoConfig(service_account_name="runner")).manifest(_wf(_square()))
    assert m["spec"]["serviceAccountName"] == "runner"


def test_engines_section_reaches_to_yaml_and_the_engine(tmp_path, monkeypatch):
    """What [engines.argo] sets must not be dropped by Workflow.to_yaml()/to_dict()."""
    from dflow_engine_argo.engine import ArgoEngine
    from dflow_engine_argo.plugin import renderer_config

    toml = tmp_path / "dflow.toml"
    toml.write_text('[engines.argo]\nservice_account_name = "wf-runner"\n')
    monkeypatch.setenv("DFLOW_CONFIG", str(toml))
    wf = _wf(_square())
    assert yaml.safe_load(wf.to_yaml())["spec"]["serviceAccountName"] == "wf-runner"
    assert wf.to_dict()["spec"]["serviceAccountName"] == "wf-runner"
    engine = ArgoEngine(renderer_config(None), client=object())
    assert engine.render(wf)["spec"]["serviceAccountName"] == "wf-runner"
    # a [renderers.argo] section, when there is one, configures to_yaml()
    toml.write_text(
        '[engines.argo]\nservice_account_name = "wf-runner"\n'
        '[renderers.argo]\nservice_account_name = ""\n'
    )
    assert "serviceAccountName" not in wf.to_dict()["spec"]


def test_service_account_of_a_bad_type_is_refused(tmp_path, monkeypatch):
    from dflow.settings import SettingsError

    toml = tmp_path / "dflow.toml"
    toml.write_text("[engines.argo]\nservice_account_name = 3\n")
    monkeypatch.setenv("DFLOW_CONFIG", str(toml))
    with pytest.raises(SettingsError, match="service_account_name"):
        _wf(_square()).to_dict()


def _shell(name="sh", **kw):
    t = ShellOPTemplate(name=name, image="alpine:3", script="echo hi > /tmp/o", **kw)
    t.outputs.artifacts = {"o": OutputArtifact(path="/tmp/o")}
    return t


def _outputs(m, name):
    return {a["name"]: a for a in template(m, name)["outputs"].get("artifacts", [])}


def test_archive_mode_none_applies_to_outputs_at_render_time(render, monkeypatch):
    """Regression: config["archive_mode"] = None was ignored; outputs were still tarred."""
    from dflow.config import config

    wf = _wf(Step("w", PythonOPTemplate(ops.write), parameters={"msg": "m"}), Step("sh", _shell()))
    assert "archive" not in _outputs(render(wf), "write")["file"]
    monkeypatch.setitem(config, "archive_mode", None)  # after the OP was defined
    m = render(wf)
    assert _outputs(m, "write")["file"]["archive"] == {"none": {}}
    assert _outputs(m, "sh")["o"]["archive"] == {"none": {}}
    tar = PythonOPTemplate(ops.write, output_artifact_archive={"file": "tar"})
    assert (
        "archive"
        not in _outputs(render(_wf(Step("w", tar, parameters={"msg": "m"}))), "write")["file"]
    )
    monkeypatch.setitem(config, "archive_mode", "zip")
    with pytest.raises(RenderError, match="archive_mode.*'zip'"):
        ArgoRenderer().manifest(wf)


@pytest.mark.parametrize("kind", ["s3", "oss", "gcs"])
def test_prefix_applies_to_step_outputs(render, monkeypatch, kind):
    """Regression: s3_config["prefix"] did not reach step outputs (Argo's keyFormat applied)."""
    from dflow.config import config, s3_config

    monkeypatch.setitem(s3_config, "prefix", "team/")
    monkeypatch.setitem(s3_config, "repo_prefix", "repo/")
    wf = _wf(Step("w", PythonOPTemplate(ops.write), parameters={"msg": "m"}), Step("sh", _shell()))
    m = render(wf, artifact_kind=kind)
    key = "repo/team/{{workflow.name}}/{{pod.name}}/"
    assert _outputs(m, "write")["file"][kind] == {"key": key + "file.tgz"}
    assert _outputs(m, "sh")["o"][kind] == {"key": key + "o.tgz"}
    monkeypatch.setitem(config, "archive_mode", None)
    m = render(wf, artifact_kind=kind)
    assert _outputs(m, "write")["file"][kind] == {"key": key + "file"}
    pkg = next(
        a
        for a in template(m, "write")["inputs"]["artifacts"]
        if a["name"] == "dflow_python_packages"
    )
    assert pkg[kind]["key"].removeprefix("repo/").startswith("team/dflow/packages/")
    monkeypatch.setitem(s3_config, "prefix", "")
    assert kind not in _outputs(render(wf, artifact_kind=kind), "write")["file"]


def test_big_parameter_outputs_are_plain_files(render):
    m = render(_wf(Step("big", PythonOPTemplate(ops.Big), parameters={"text": "t"})))
    assert _outputs(m, "big")["dflow_bigpar_echo"] == {
        "name": "dflow_bigpar_echo",
        "path": "/tmp/outputs/parameters/echo",
        "archive": {"none": {}},
    }


def test_workflow_annotations_are_defaults_the_workflow_overrides(render, monkeypatch):
    from dflow.config import config

    monkeypatch.setitem(config, "workflow_annotations", {"team": "qa", "cost": "1"})
    m = render(_wf(_square(), annotations={"cost": "2"}))
    assert m["metadata"]["annotations"] == {"team": "qa", "cost": "2"}


def test_repo_key_and_repo_type(render, monkeypatch):
    from dflow.config import s3_config

    monkeypatch.setitem(s3_config, "repo_key", "team-repo")
    monkeypatch.setitem(s3_config, "repo_type", "oss")
    monkeypatch.setitem(s3_config, "repo_prefix", "r/")
    wf = _wf(
        Step(
            "w",
            PythonOPTemplate(ops.write, output_artifact_save={"file": [S3Artifact(key="out/f")]}),
            parameters={"msg": "m"},
        )
    )
    m = ArgoRenderer().manifest(wf)
    assert m["spec"]["artifactRepositoryRef"] == {"key": "team-repo"}
    assert _outputs(m, "write")["file"]["oss"] == {"key": "r/out/f"}
    wf.artifact_repo_key = "own"
    assert ArgoRenderer().manifest(wf)["spec"]["artifactRepositoryRef"] == {"key": "own"}
    monkeypatch.setitem(s3_config, "repo_type", "ftp")
    with pytest.raises(RenderError, match="repo_type.*'ftp'"):
        ArgoRenderer().manifest(wf)


def test_save_keys_in_global_outputs(render, monkeypatch):
    from dflow.config import config

    wf = _wf(
        Step("sq", PythonOPTemplate(ops.square), parameters={"x": 2}, key="sq-1"),
        Step("plain", _shell()),
    )
    assert "dflow_global" not in str(render(wf))
    monkeypatch.setitem(config, "save_keys_in_global_outputs", True)
    m = render(wf)
    params = template(m, "square")["outputs"]["parameters"]
    assert {
        "name": "dflow_global",
        "value": "{{pod.name}}",
        "globalName": "dflow_key_{{inputs.parameters.dflow_key}}",
    } in params
    assert "dflow_global" not in str(template(m, "sh"))  # no key


__all__ = ["template"]

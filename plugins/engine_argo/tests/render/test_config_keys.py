"""``config`` / ``s3_config`` keys and ``[engines.argo]`` settings that shape the manifest,
as pydflow documents them (reference/dflow-api.md §1.3), in ``render()``, ``to_yaml()`` and
the engine alike. Manifests pass both strict schemas and the linter (``render`` fixture)."""

from __future__ import annotations

import argo_render_ops as ops
import pytest
import yaml
from dflow import ShellOPTemplate, Step, Workflow
from dflow.python import PythonOPTemplate
from dflow_engine_argo.config import ArgoConfig
from dflow_engine_argo.render import ArgoRenderer
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
    m = ArgoRenderer(ArgoConfig(service_account_name="runner")).render(_wf(_square()))
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
    toml.write_text('[engines.argo]\nservice_account_name = "wf-runner"\n'
                    '[renderers.argo]\nservice_account_name = ""\n')
    assert "serviceAccountName" not in wf.to_dict()["spec"]


def test_service_account_of_a_bad_type_is_refused(tmp_path, monkeypatch):
    from dflow.settings import SettingsError

    toml = tmp_path / "dflow.toml"
    toml.write_text("[engines.argo]\nservice_account_name = 3\n")
    monkeypatch.setenv("DFLOW_CONFIG", str(toml))
    with pytest.raises(SettingsError, match="service_account_name"):
        _wf(_square()).to_dict()


def _shell(name="sh", **kw):
    return ShellOPTemplate(name=name, image="alpine:3", script="echo hi", **kw)


__all__ = ["template"]

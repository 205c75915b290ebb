"""What a user sees at ``submit()`` about configuration, with the real local engine: a key set
that this run ignores warns once, naming the key and why; a misspelled plugin section of
``dflow.toml`` stops the run."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from dflow import ShellOPTemplate, Step, Workflow
from dflow.config_keys import IgnoredConfigWarning
from dflow.settings import SettingsError


@pytest.fixture
def local(tmp_path, monkeypatch):
    from dflow.config import config

    for name in list(os.environ):
        if name.startswith("DFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr("dflow.config_keys._warned", set())
    saved = dict(config)
    config.update(mode="local", debug_workdir=str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    config.clear()
    config.update(saved)


def _wf() -> Workflow:
    wf = Workflow("cfg")
    wf.add(Step("s", ShellOPTemplate(name="t", script="echo hi")))
    return wf


def test_an_ignored_key_warns_once_at_submit(local):
    from dflow.config import config

    config["dispatcher_image"] = "my/dispatcher:1"
    config["host"] = "https://argo.example:2746"
    with pytest.warns(IgnoredConfigWarning) as record:
        _wf().submit()
    messages = sorted(str(w.message) for w in record)
    assert messages == [
        "config['dispatcher_image'] is set but only the argo engine reads it (default image of "
        "DispatcherExecutor pods (DispatcherExecutor(image=...))), which this run does not use",
        "config['host'] is set but only the argo engine reads it (Argo Server URL), which this "
        "run does not use",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", IgnoredConfigWarning)
        wf = _wf()
        wf.submit()  # once per key: no second warning
    assert wf.query_status() == "Succeeded"


def test_keys_the_local_engine_reads_do_not_warn(local):
    from dflow.config import config

    config.update(debug_pool_workers=1, debug_failfast=True, detect_empty_dir=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IgnoredConfigWarning)
        wf = _wf()
        wf.submit()
    assert wf.query_status() == "Succeeded"


def test_misspelled_engine_section_stops_submit(local):
    Path("dflow.toml").write_text('engine = "local"\n[engines.locl]\nworkdir = "runs"\n')
    with pytest.raises(
        SettingsError,
        match=r"\[engines\.locl\]: no engine named 'locl' \(did "
        r"you mean \[engines\.local\]\?\)",
    ):
        _wf().submit()


def test_to_yaml_warns_about_keys_the_manifest_does_not_reflect(local):
    """Nothing accepted in config is silently ignored by to_dict()/to_yaml() (issue 10 item 6):
    a key the Argo renderer honours shows in the manifest, one it ignores warns."""
    pytest.importorskip("dflow_engine_argo")
    from dflow.config import config

    config["workflow_annotations"] = {"team": "qa"}
    config["save_path_as_parameter"] = True
    with pytest.warns(IgnoredConfigWarning) as record:
        manifest = _wf().to_dict()
    assert manifest["metadata"]["annotations"] == {"team": "qa"}
    assert [str(w.message) for w in record] == [
        "config['save_path_as_parameter'] is set but dflow ignores it: "
        "dflow_<artifact>_path_list parameters are not produced"
    ]

"""The table of accepted keys (``dflow.config_keys``): complete, and used to warn about keys
that a run ignores; plugin sections of ``dflow.toml`` that no plugin answers to are errors."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from dflow import backends
from dflow.config import config, default_config, default_s3_config, s3_config
from dflow.config_keys import KEYS, IgnoredConfigWarning, ignored_keys, warn_ignored
from dflow.settings import SettingsError, load_settings

REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "dflow-api.md"
_COMPONENT = re.compile(r"^(core|cli|(engine|storage|executor|cache):[-a-z0-9]+)$")


def _pydflow_keys(section: str) -> set[str]:
    """Keys listed in the tables of dflow-api.md §1.3 (``config`` / ``s3_config``)."""
    text = REFERENCE.read_text()
    start = text.index(f"#### `{section}`")
    end = text.index("####", start + 5) if section == "config" else text.index("\n---\n", start)
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", text[start:end], re.M))


def test_every_key_is_declared_once_with_its_components():
    labels = [(k.table, k.name) for k in KEYS]
    assert len(labels) == len(set(labels))
    assert {k.name for k in KEYS if k.table == "config"} == set(default_config())
    assert {k.name for k in KEYS if k.table == "s3_config"} == set(default_s3_config())
    for key in KEYS:
        assert key.note, key
        assert all(_COMPONENT.match(c) for c in key.honoured_by), key


#: keys dflow adds to pydflow's config (what the user sees of a run)
OURS = {"quiet", "raise_on_failure", "progress_interval"}


def test_every_pydflow_key_and_variable_is_accepted():
    assert _pydflow_keys("config") | OURS == {k.name for k in KEYS if k.table == "config"}
    assert _pydflow_keys("s3_config") == {k.name for k in KEYS if k.table == "s3_config"}
    envs = {k.env for k in KEYS if k.env}
    assert {"DFLOW_S3_STORAGE_CLIENT", "DFLOW_TEMPDIR", "DFLOW_LINEAGE", "LOG_LEVEL"} <= envs


def _clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("DFLOW_") or name in ("DISPATCHER_DEBUG", "LOG_LEVEL"):
            monkeypatch.delenv(name)


def test_nothing_set_nothing_reported(monkeypatch):
    _clean_env(monkeypatch)
    assert ignored_keys({"engine:local"}, default_config(), default_s3_config()) == []


def test_a_set_key_no_component_reads_is_reported_with_what_to_do(monkeypatch):
    _clean_env(monkeypatch)
    cfg = dict(
        default_config(),
        save_path_as_parameter=True,
        raise_for_group=True,
        workflow_annotations={"team": "x"},
    )  # the Argo renderer reads the last one
    got = dict(ignored_keys({"engine:argo"}, cfg, default_s3_config()))
    assert got == {
        "config['save_path_as_parameter']": "config['save_path_as_parameter'] is set but dflow "
        "ignores it: dflow_<artifact>_path_list parameters are not produced",
        "config['raise_for_group']": "config['raise_for_group'] is set but dflow ignores it: "
        "set Slices(raise_for_group=True) on the template",
    }


def test_a_key_of_another_engine_is_reported_naming_its_reader(monkeypatch):
    _clean_env(monkeypatch)
    monkeypatch.setenv("DFLOW_HOST", "https://argo.example:2746")
    cfg = dict(default_config(), host="https://argo.example:2746", debug_workdir="runs")
    local = dict(ignored_keys({"engine:local", "storage:local"}, cfg, default_s3_config()))
    assert local == {
        "config['host']": "config['host'] is set (set by DFLOW_HOST) but only "
        "the argo engine reads it (Argo Server URL), which this run does not use"
    }
    argo = dict(ignored_keys({"engine:argo", "storage:minio"}, cfg, default_s3_config()))
    assert list(argo) == ["config['debug_workdir']"]
    assert "only the local engine reads it" in argo["config['debug_workdir']"]


def test_s3_keys_are_read_by_the_minio_storage_only(monkeypatch):
    _clean_env(monkeypatch)
    s3 = dict(default_s3_config(), endpoint="10.0.0.1:9000")
    assert ignored_keys({"engine:argo", "storage:minio"}, default_config(), s3) == []
    [(label, message)] = ignored_keys({"engine:local", "storage:local"}, default_config(), s3)
    assert label == "s3_config['endpoint']"
    assert "only the object-store cache and the minio storage read it" in message
    # a step cache in an S3 bucket reaches it with the storage's endpoint and credentials
    assert ignored_keys({"engine:local", "cache:object-store"}, default_config(), s3) == []


def test_a_misspelled_variable_gets_a_did_you_mean(monkeypatch):
    _clean_env(monkeypatch)
    monkeypatch.setenv("DFLOW_DEBUG_WORKDIRR", "runs")
    monkeypatch.setenv("DFLOW_TMP_ROOT", "/x")  # set by dflow for steps: not a typo
    assert ignored_keys({"engine:local"}, default_config(), default_s3_config()) == [
        (
            "DFLOW_DEBUG_WORKDIRR",
            "environment variable DFLOW_DEBUG_WORKDIRR is not read by "
            "dflow; did you mean DFLOW_DEBUG_WORKDIR?",
        )
    ]


def test_warnings_are_given_once_per_key(monkeypatch):
    _clean_env(monkeypatch)
    monkeypatch.setitem(config, "register_tasks", True)
    monkeypatch.setattr("dflow.config_keys._warned", set())
    with pytest.warns(IgnoredConfigWarning, match=r"config\['register_tasks'\] is set but"):
        assert len(warn_ignored({"engine:local"})) == 1
    assert warn_ignored({"engine:local"}) == []


# -- plugin sections of dflow.toml -----------------------------------------------------------


def test_misspelled_plugin_section_fails_the_run_not_only_dflow_config(toy_pm, workdir):
    Path("dflow.toml").write_text('engine = "local"\n[engines.locl]\nworkdir = "x"\n')
    with pytest.raises(SettingsError) as err:
        backends.get_engine()
    assert str(err.value) == (
        f"{workdir / 'dflow.toml'}: [engines.locl]: no engine named 'locl' (did you mean "
        "[engines.local]?); installed engines: argo, local"
    )


def test_sections_of_uninstalled_first_party_plugins_are_accepted(toy_pm, workdir):
    Path("dflow.toml").write_text(
        '[engines.local]\nworkdir = "w"\n[storages.gcs]\nbucket = "b"\n'
        '[executors.dispatcher]\nhost = "h"\n[engines.debug]\n'
    )
    load_settings().check_sections(toy_pm)  # gcs, dispatcher: not installed here, not typos


def test_pyproject_sections_are_named_as_written(toy_pm, workdir):
    Path("pyproject.toml").write_text('[tool.dflow.storages.minoi]\nendpoint = "e"\n')
    with pytest.raises(
        SettingsError,
        match=r"\[tool\.dflow\.storages\.minoi\]: no storage named "
        r"'minoi' \(did you mean \[tool\.dflow\.storages"
        r"\.minio\]\?\)",
    ):
        backends.get_storage_client()


def test_singular_table_says_which_table_the_loader_reads(toy_pm, workdir):
    Path("dflow.toml").write_text('[storage.minio]\nendpoint = "e"\n')
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).endswith(
        'storage must be a storage name (storage = "..."); plugin settings go in '
        "[storages.<name>] tables: rename it to [storages.minio]"
    )


def test_dflow_tempdir_holds_the_staging_of_uploads(workdir, monkeypatch):
    from dflow import upload_artifact
    from dflow.storage import LocalStorageClient

    staged = []

    class Recording(LocalStorageClient):
        def upload(self, key, path):
            staged.append(path)
            super().upload(key, path)

        def adopt(self, key, path):
            staged.append(path)
            super().adopt(key, path)

    tmp = workdir / "my-tmp"
    monkeypatch.setenv("DFLOW_TEMPDIR", str(tmp))
    Path("a.txt").write_text("x")
    upload_artifact("a.txt", storage_client=Recording(root=str(workdir / "store")))
    assert staged and all(p.startswith(str(tmp) + os.sep) for p in staged)
    monkeypatch.delenv("DFLOW_TEMPDIR")
    staged.clear()
    upload_artifact("a.txt", storage_client=Recording(root=str(workdir / "store")))
    assert all(p.startswith(tempfile.gettempdir()) for p in staged)


def test_config_and_s3_config_stay_plain_dicts():
    assert type(config) is dict and type(s3_config) is dict

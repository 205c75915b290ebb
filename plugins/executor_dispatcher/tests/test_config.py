"""Default dicts, deep-merge order, plugin record."""

from __future__ import annotations

import importlib.metadata
import json

import pytest
from dflow_executor_dispatcher import DispatcherArtifact, DispatcherExecutor, update_dict
from dflow_executor_dispatcher.config import DispatcherConfig
from dflow_executor_dispatcher.plugin import dflow_executors


def test_defaults_for_a_remote_host():
    ex = DispatcherExecutor(host="1.2.3.4", username="me", queue_name="V100", private_key_file="k")
    assert ex.machine_dict == {
        "batch_type": "Slurm",
        "context_type": "SSHContext",
        "local_root": ".",
        "retry_count": 0,
        "remote_profile": {
            "hostname": "1.2.3.4",
            "username": "me",
            "port": 22,
            "timeout": 10,
            "key_filename": "k",
        },
        "remote_root": "/home/me/dflow/workflows",
    }
    assert ex.resources_dict == {
        "number_node": 1,
        "cpu_per_node": 1,
        "group_size": 1,
        "queue_name": "V100",
        "envs": {"PYTHONUNBUFFERED": "true"},
    }
    assert ex.task_dict == {"task_work_path": "./", "outlog": "log", "errlog": "log"}
    assert DispatcherExecutor(host="h").machine_dict["remote_root"] == "/root/dflow/workflows"


def test_without_host_submits_from_this_machine():
    machine = DispatcherExecutor().machine_dict
    assert (machine["context_type"], machine["batch_type"]) == ("LocalContext", "Slurm")


@pytest.mark.parametrize(
    ("kwargs", "here"),
    [
        ({"machine_dict": {"batch_type": "Shell"}}, True),
        ({"machine_dict": {"batch_type": "shell", "context_type": "LazyLocal"}}, True),
        ({}, False),  # a Slurm job belongs to Slurm (scancel ends it)
        ({"host": "h", "machine_dict": {"batch_type": "Shell"}}, False),  # another host
        ({"machine_dict": {"batch_type": "Shell", "context_type": "SSHContext"}}, False),
    ],
)
def test_runs_here_only_for_a_shell_batch_in_a_local_context(kwargs, here):
    """The local engine marks (and kills) the processes of jobs that run here, no others."""
    assert DispatcherExecutor(**kwargs).runs_here is here


def test_merge_order_defaults_then_json_file_then_explicit(tmp_path):
    path = tmp_path / "dispatcher.json"
    path.write_text(
        json.dumps(
            {
                "machine": {"batch_type": "PBS", "remote_profile": {"port": 2222, "timeout": 30}},
                "resources": {"cpu_per_node": 4, "envs": {"A": "json"}},
            }
        )
    )
    ex = DispatcherExecutor(
        host="h",
        json_file=str(path),
        envs={"B": "arg"},
        machine_dict={"remote_profile": {"timeout": 60}, "retry_count": 2},
        resources_dict={"envs": {"A": "explicit"}},
    )
    assert ex.machine_dict["batch_type"] == "PBS"
    assert ex.machine_dict["remote_profile"] == {
        "hostname": "h",
        "username": "root",
        "port": 2222,
        "timeout": 60,
    }
    assert ex.machine_dict["retry_count"] == 2
    assert ex.resources_dict["cpu_per_node"] == 4
    assert ex.resources_dict["envs"] == {"PYTHONUNBUFFERED": "true", "B": "arg", "A": "explicit"}


def test_retry_count_follows_retry_on_submission_error():
    assert DispatcherExecutor(retry_on_submission_error=3).machine_dict["retry_count"] == 3


def test_bad_json_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="json_file=.*cannot read it as JSON"):
        DispatcherExecutor(json_file=str(tmp_path / "missing.json"))


def test_update_dict_is_deep_and_copies():
    base = {"a": {"b": 1, "c": 2}, "d": [1]}
    merged = update_dict(base, {"a": {"c": 3}, "d": [2]})
    assert merged == {"a": {"b": 1, "c": 3}, "d": [2]}
    assert base == {"a": {"b": 1, "c": 2}, "d": [1]}


def test_password_is_not_in_repr():
    assert "pw" not in repr(DispatcherExecutor(host="h", password="pw"))
    assert "pw" not in repr(DispatcherConfig(host="h", password="pw"))


def test_plugin_record_and_entry_point():
    (entry,) = [
        ep
        for ep in importlib.metadata.entry_points(group="dflow")
        if ep.name == "executor-dispatcher"
    ]
    assert entry.value == "dflow_executor_dispatcher.plugin"
    (record,) = dflow_executors()
    assert record.name == "dispatcher" and record.config_type is DispatcherConfig
    ex = record.build(DispatcherConfig(host="h", queue_name="q"))
    assert isinstance(ex, DispatcherExecutor) and ex.resources_dict["queue_name"] == "q"
    assert record.factory(merge_sliced_step=True).merge_sliced_step is True


def test_compat_names():
    from dflow.plugins.dispatcher import DispatcherArtifact as Compat

    assert Compat is DispatcherArtifact
    with pytest.raises(NotImplementedError):
        DispatcherArtifact("x").download()

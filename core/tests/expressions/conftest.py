"""A scope shaped like the one the local engine builds (parameter values are strings)."""

from __future__ import annotations

import pytest


@pytest.fixture
def scope() -> dict:
    return {
        "inputs": {
            "parameters": {
                "x": "3",
                "n": "5",
                "i": "2",
                "f": "2.5",
                "msg": "hello",
                "msg_list": '["a", "b", "c"]',
                "a": "[10, 20, 30]",
                "obj": '{"k": {"v": [1, 2]}, "name": "dflow"}',
                "my-param": "hyphen",
                "empty": "",
            },
            "artifacts": {"data": {"path": "/tmp/inputs/artifacts/data"}},
        },
        "steps": {
            "a": {"outputs": {"parameters": {"x": "1.5", "o": "A"}}, "status": "Succeeded"},
            "b": {"outputs": {"parameters": {"y": "2"}}, "status": "Failed", "exitCode": "1"},
            "s1": {"outputs": {"parameters": {"o": "one"}}},
            "s2": {"outputs": {"parameters": {"o": "two"}}},
            "flip": {"outputs": {"result": "heads"}, "status": "Succeeded"},
            "my-step": {"outputs": {"parameters": {"p": "q"}}},
        },
        "tasks": {"t": {"outputs": {"parameters": {"p": "7"}}, "exitCode": "0"}},
        "item": {"order": 0, "k": "v", "nested": {"b": [1, 2]}},
        "workflow": {"name": "wf-x", "parameters": {"p": "wp"}, "status": "Succeeded"},
        "pod": {"name": "wf-x-123"},
    }

"""``query_step(name=...)`` on the local engine: plain names, loop items and regular expressions.

The rule itself (``dflow.argo_objects.name_matches``) is checked against pydflow's Argo mode in
``core/tests/compat/test_query_step_names.py``; this runs a real workflow locally.
"""

from __future__ import annotations

import pytest
from dflow import InputParameter, ShellOPTemplate, Step, Workflow


@pytest.fixture
def local(tmp_path, monkeypatch):
    from dflow.config import config

    saved = dict(config)
    config.update(mode="local", debug_workdir=str(tmp_path), debug_pool_workers=2)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    config.clear()
    config.update(saved)


def test_names_and_regular_expressions_on_the_local_engine(local):
    echo = ShellOPTemplate(name="echo", script="echo {{inputs.parameters.x}}")
    echo.inputs.parameters = {"x": InputParameter()}
    wf = Workflow("names")
    wf.add(
        [
            Step("hello", echo, parameters={"x": "{{item}}"}, with_param=[1, 2]),
            Step("hello-world", echo, parameters={"x": 0}),
            Step("bye", echo, parameters={"x": 0}),
        ]
    )
    wf.submit()
    assert wf.query_status() == "Succeeded"

    def shown(**kw):
        return sorted(s.displayName for s in wf.query_step(type="Pod", **kw))

    assert shown(name="hello") == ["hello(0:1)", "hello(1:2)"]  # pydflow: exact or "hello("
    assert shown(name="hello-.*") == ["hello-world"]
    assert shown(name="hel.*") == ["hello(0:1)", "hello(1:2)", "hello-world"]
    assert shown(name="h.*|bye") == ["bye", "hello(0:1)", "hello(1:2)", "hello-world"]
    assert shown(name=["bye", "hello-world"]) == ["bye", "hello-world"]
    assert shown(name="hell") == []
    assert shown(name=r"hello\(1:.*") == ["hello(1:2)"]

"""``query_step(name=...)``: plain names as pydflow's Argo mode, and regular expressions.

Both engines filter through :meth:`dflow.argo_objects.ArgoWorkflow.get_step`; the Argo side is
checked here on the ``status.nodes`` trees recorded by Argo's controller tests, the local
engine in ``tests/test_query_step_names.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from dflow.argo_objects import ArgoWorkflow, match, name_matches

HERE = Path(__file__).resolve().parent
STATUS = HERE.parents[2].parent / "shared" / "argo" / "status-v4.1"


def _tree(name: str) -> ArgoWorkflow:
    return ArgoWorkflow(yaml.safe_load((STATUS / name).read_text()))


def test_plain_names_answer_as_pydflow_argo_mode_on_every_recorded_tree():
    """pydflow 1.8.134's answers (``pydflow_query_names.json``) on Argo's recorded trees."""
    expected = json.loads((HERE / "pydflow_query_names.json").read_text())
    failures, count = [], 0
    for tree_name, queries in sorted(expected.items()):
        wf = _tree(tree_name)
        for name, ids in queries.items():
            count += 1
            got = sorted(s["id"] for s in wf.get_step(name=name))
            if got != ids:
                failures.append(f"{tree_name} name={name!r}: pydflow {ids}, ours {got}")
    assert count == 382
    assert failures == []


def test_regular_expressions_match_the_whole_display_name():
    wf = _tree("dag-067ab3b4e4.yaml")  # parameter-aggregation-dag: odd-or-even(0:1), (1:2)
    items = sorted(s.displayName for s in wf.get_step(name="odd-or-.*", type="Pod"))
    assert items == ["odd-or-even(0:1)", "odd-or-even(1:2)"]
    assert wf.get_step(name="odd") == []  # fullmatch: no match on a prefix
    assert wf.get_step(name="odd-or") == []
    assert [s.displayName for s in wf.get_step(name=r"odd-or-even\(1:.*\)")] == ["odd-or-even(1:2)"]
    both = {s.displayName for s in wf.get_step(name="odd-or-even|parameter-aggregation-dag-.*")}
    assert both == {
        "odd-or-even",
        "odd-or-even(0:1)",
        "odd-or-even(1:2)",
        "parameter-aggregation-dag-h8b82",
    }


def test_names_lists_and_invalid_patterns():
    wf = _tree("dag-067ab3b4e4.yaml")
    assert len(wf.get_step(name=["nope", "odd-or-e[v]en"], type="Pod")) == 2
    assert wf.get_step(name="odd-or-even(") == []  # not a regex: literal, and no such name
    assert name_matches("a(b", ["a(b"])  # an invalid pattern still matches literally
    assert name_matches("hello(0:1)(2)", ["hello(0:1)"])  # a retry of a loop item
    assert not name_matches("hello-world", ["hello"])


def test_pydflow_match_function_is_the_same_rule():
    assert match("hello(0:1)", ["hello"]) and match("hello", "hello")
    assert not match("hello2", ["hello"])
    assert match("hello2", ["hello[0-9]"])


@pytest.mark.parametrize("name", ["hello", ["hello"], ("hello", "x")])
def test_name_accepts_a_string_or_a_list(name):
    wf = ArgoWorkflow(
        {
            "metadata": {"name": "w"},
            "status": {
                "nodes": {
                    "a": {
                        "id": "a",
                        "displayName": "hello(0:0)",
                        "type": "Pod",
                        "phase": "Succeeded",
                    },
                    "b": {"id": "b", "displayName": "hello2", "type": "Pod", "phase": "Succeeded"},
                }
            },
        }
    )
    assert [s.id for s in wf.get_step(name=name)] == ["a"]

"""Lists of different lengths are errors, never cut short (argo_enumerate, sliced inputs)."""

from __future__ import annotations

import pytest
from dflow import InputParameter, argo_enumerate
from dflow.expressions import render
from dflow.python.errors import SignatureError
from dflow.runner.inputs import select_slice


def test_argo_enumerate_names_positional_lists_as_pydflow():
    assert (
        render(str(argo_enumerate([1, 2])), {}) == '[{"order":0,"value":1},{"order":1,"value":2}]'
    )
    assert render(str(argo_enumerate([1], ["a"])), {}) == '[{"order":0,"value0":1,"value1":"a"}]'


def test_argo_enumerate_lists_of_different_lengths():
    with pytest.raises(ValueError, match=r"differ in length \('a' has 1, 'b' has 2\)"):
        argo_enumerate(a=[1], b=[1, 2])
    e = argo_enumerate(a=InputParameter(name="a"), b=[3, 4])
    ok = {"inputs": {"parameters": {"a": "[1, 2]"}}}
    assert render(str(e), ok) == '[{"a":1,"b":3,"order":0},{"a":2,"b":4,"order":1}]'
    longer = {"inputs": {"parameters": {"a": "[1, 2, 3]"}}}
    assert render(str(e), longer) == "argo_enumerate: the lists a, b differ in length"


def test_sliced_inputs_of_different_lengths():
    values = {"a": [1, 2], "b": [10, 20, 30], "c": "whole"}
    with pytest.raises(
        SignatureError,
        match=r"sliced inputs differ in length \('a' has 2, "
        r"'b' has 3\)",
    ):
        select_slice("Op", values, {"a", "b"}, 0)
    assert select_slice("Op", {"a": [1, 2], "b": [3, 4], "c": "w"}, {"a", "b"}, 1) == {
        "a": 2,
        "b": 4,
        "c": "w",
    }

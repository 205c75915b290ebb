"""variables() and referenced_names(): static analysis for validation and lint."""

from __future__ import annotations

import pytest
from dflow.expressions import ExpressionError, referenced_names, variables

VARIABLES = [
    ("no tags", []),
    (
        "{{inputs.parameters.x}} and {{=asInt(inputs.parameters.y) + 1}}",
        ["inputs.parameters.x", "=asInt(inputs.parameters.y) + 1"],
    ),
    ("{{ item.a }}{{item}}", ["item.a", "item"]),
    ("{{=map(xs, {{'o': #}})}}", ["=map(xs, {{'o': #}})"]),
]


@pytest.mark.parametrize(("text", "expected"), VARIABLES)
def test_variables(text: str, expected: list[str]) -> None:
    assert variables(text) == expected


NAMES = [
    ("{{steps.hello.outputs.parameters.msg}}", {"steps.hello.outputs.parameters.msg"}),
    (
        "steps['hello'].outputs.parameters['msg'] + item",
        {"steps.hello.outputs.parameters.msg", "item"},
    ),
    ("inputs.parameters.x", {"inputs.parameters.x"}),
    ("asInt(inputs.parameters['x']) + 1", {"inputs.parameters.x"}),
    ("toJson(sprig.untilStep(0, 5, 1))", set()),
    ("sprig.atoi(workflow.parameters.n)", {"workflow.parameters.n"}),
    ("map(sprig.fromJson(inputs.parameters.a), {#.k + item.b})", {"inputs.parameters.a", "item.b"}),
    ("map(xs, .name)", {"xs"}),
    ("steps[inputs.parameters.which].outputs.result", {"steps", "inputs.parameters.which"}),
    ("jsonpath(inputs.parameters['a'], '$')[0]", {"inputs.parameters.a"}),
    ("let v = inputs.parameters.x; v + v", {"inputs.parameters.x"}),
    ("a ? b.c : {k: d}", {"a", "b.c", "d"}),
    ("[tasks.t.exitCode, -pod.name]", {"tasks.t.exitCode", "pod.name"}),
    ("x?.y ?? z", {"x.y", "z"}),
    (
        "{{=toJson(map(sprig.untilStep(0, len(sprig.fromJson(inputs.parameters['a'])), 1), "
        "{{'order': #, 'a': jsonpath(inputs.parameters['a'], '$')[#]}}))}} {{item.a}}",
        {"inputs.parameters.a", "item.a"},
    ),
    ("{{workflow.name}}/{{pod.name}}", {"workflow.name", "pod.name"}),
]


@pytest.mark.parametrize(("text", "expected"), NAMES)
def test_referenced_names(text: str, expected: set[str]) -> None:
    assert referenced_names(text) == expected


def test_referenced_names_reports_bad_syntax() -> None:
    with pytest.raises(ExpressionError) as info:
        referenced_names("{{=asInt(}}")
    assert str(info.value) == "cannot parse 'asInt(': unexpected end of expression at column 7"

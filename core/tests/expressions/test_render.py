"""render() and render_value(): tag scanning and the text Argo would substitute."""

from __future__ import annotations

import pytest
from dflow.expressions import ExpressionError, render, render_value

RENDER = [
    # simple tags
    ("no tags at all", "no tags at all"),
    ("{{inputs.parameters.x}}", "3"),
    ("{{ inputs.parameters.x }}", "3"),
    ("x={{inputs.parameters.x}}, n={{inputs.parameters.n}}", "x=3, n=5"),
    ("{{inputs.parameters.my-param}}", "hyphen"),
    ("{{inputs.parameters.empty}}", ""),
    ("{{steps.a.outputs.parameters.o}}", "A"),
    ("{{steps.my-step.outputs.parameters.p}}", "q"),
    ("{{steps.flip.outputs.result}}", "heads"),
    ("{{steps.a.status}}/{{steps.b.exitCode}}", "Succeeded/1"),
    ("{{tasks.t.outputs.parameters.p}}", "7"),
    ("{{tasks.t.exitCode}}", "0"),
    ("{{item}}", '{"k":"v","nested":{"b":[1,2]},"order":0}'),
    ("{{item.k}}", "v"),
    ("{{item.order}}", "0"),
    ("{{item.nested.b}}", "[1,2]"),
    ("{{workflow.name}}", "wf-x"),
    ("{{workflow.parameters.p}}", "wp"),
    ("{{workflow.status}}", "Succeeded"),
    ("{{pod.name}}", "wf-x-123"),
    ("{{inputs.artifacts.data.path}}", "/tmp/inputs/artifacts/data"),
    ("{ single braces } and }} stray", "{ single braces } and }} stray"),
    # expression tags
    ("{{=inputs.parameters.x}}", "3"),
    ("{{=asInt(inputs.parameters.x) + 1}}", "4"),
    ("{{=1.0}}", "1"),
    ("{{=0.1 + 0.2}}", "0.30000000000000004"),
    ("{{=7 / 2}}", "3.5"),
    ("{{=1e21}}", "1e+21"),
    ("{{=1e20}}", "100000000000000000000"),
    ("{{=0.0000001}}", "1e-7"),
    ("{{=-2.5}}", "-2.5"),
    ("{{=true}}", "true"),
    ("{{=1 > 2}}", "false"),
    ("{{=[1, 'a', nil]}}", '[1,"a",null]'),
    ("{{={b: 1, a: [true]}}}", '{"a":[true],"b":1}'),
    ("{{='<tag> & co'}}", "<tag> & co"),
    ("{{=['<']}}", '["\\u003c"]'),
    ("{{=toJson(sprig.untilStep(0, 5, 1))}}", "[0,1,2,3,4]"),
    ("{{=sprig.untilStep(0, 3, 1)}}", "[0,1,2]"),
    ("{{=sprig.fromJson(inputs.parameters.a)}}", "[10,20,30]"),
    ("{{= 'spaced' }}", "spaced"),
    ("{{='}}' + '{{'}}", "}}{{"),
    ('{{="a\\"b"}}', 'a"b'),
    ("{{=filter([1, 2, 3], {# > 1})}}", "[2,3]"),
    ("{{=map([1, 2], {{'v': #}})}}", '[{"v":1},{"v":2}]'),
    ("{{=map([1, 2], { {'v': #} })}}", '[{"v":1},{"v":2}]'),
    (
        "{{=toJson(map(sprig.untilStep(0, len(sprig.fromJson(inputs.parameters['a'])), 1), "
        "{{'order': #, 'a': jsonpath(inputs.parameters['a'], '$')[#]}}))}}",
        '[{"a":10,"order":0},{"a":20,"order":1},{"a":30,"order":2}]',
    ),
    ("a{{=1}}b{{inputs.parameters.x}}c{{=2}}", "a1b3c2"),
    ("line1\n{{=upper(inputs.parameters.msg)}}\n", "line1\nHELLO\n"),
]


@pytest.mark.parametrize(("text", "expected"), RENDER)
def test_render(text: str, expected: str, scope: dict) -> None:
    assert render(text, scope) == expected


RENDER_VALUE = [
    ("{{=sprig.untilStep(0, 3, 1)}}", [0, 1, 2]),
    ("{{=asInt(inputs.parameters.x)}}", 3),
    ("  {{=1.5}}\n", 1.5),
    ("{{=item}}", {"order": 0, "k": "v", "nested": {"b": [1, 2]}}),
    ("{{=nil}}", None),
    ("{{inputs.parameters.x}}", "3"),
    ("{{=1}}{{=2}}", "12"),
    ("plain", "plain"),
]


@pytest.mark.parametrize(("text", "expected"), RENDER_VALUE)
def test_render_value(text: str, expected, scope: dict) -> None:
    assert render_value(text, scope) == expected


NON_STRICT = [
    ("{{workflow.uid}}-{{inputs.parameters.x}}", "{{workflow.uid}}-3"),
    ("{{steps.later.outputs.result}}", "{{steps.later.outputs.result}}"),
    ("{{=steps.later.outputs.result}}", "{{=steps.later.outputs.result}}"),
    ("{{=inputs.parameters.nosuch ?? 'd'}}", "d"),
    ("{{=nil}}", "{{=nil}}"),
]


@pytest.mark.parametrize(("text", "expected"), NON_STRICT)
def test_render_not_strict_keeps_unknown_tags(text: str, expected: str, scope: dict) -> None:
    assert render(text, scope, strict=False) == expected


def test_render_not_strict_still_reports_bad_syntax(scope: dict) -> None:
    with pytest.raises(ExpressionError, match="unexpected end of expression at column 4"):
        render("{{=1 +}}", scope, strict=False)

"""The exact messages a user sees for bad templates, expressions and conditions."""

from __future__ import annotations

import pytest
from dflow.expressions import ExpressionError, evaluate, evaluate_condition, render

RENDER_ERRORS = [
    # unknown variables name what is known at that level
    (
        "{{steps.hello.outputs.parameters.msg}}",
        "cannot evaluate '{{steps.hello.outputs.parameters.msg}}': no step 'hello' in scope "
        "(known: a, b, flip, my-step, s1, s2)",
    ),
    (
        "{{steps.a.outputs.parameters.zz}}",
        "cannot evaluate '{{steps.a.outputs.parameters.zz}}': step 'a' has no output "
        "parameter 'zz' (known: o, x)",
    ),
    (
        "{{tasks.zz.outputs.result}}",
        "cannot evaluate '{{tasks.zz.outputs.result}}': no task 'zz' in scope (known: t)",
    ),
    (
        "{{inputs.artifacts.zz}}",
        "cannot evaluate '{{inputs.artifacts.zz}}': no input artifact 'zz' (known: data)",
    ),
    (
        "{{workflow.parameters.zz}}",
        "cannot evaluate '{{workflow.parameters.zz}}': no workflow parameter 'zz' (known: p)",
    ),
    (
        "{{item.zz}}",
        "cannot evaluate '{{item.zz}}': no 'zz' in item (known: k, nested, order)",
    ),
    (
        "{{nosuch}}",
        "cannot evaluate '{{nosuch}}': unknown variable 'nosuch' "
        "(known: inputs, item, pod, steps, tasks, workflow)",
    ),
    (
        "{{inputs.parameters.x.y}}",
        "cannot evaluate '{{inputs.parameters.x.y}}': cannot read 'y' of inputs.parameters.x: "
        "it is a string, not a map",
    ),
    ("{{}}", "cannot evaluate '{{}}': empty tag"),
    (
        "{{=inputs.parameters['zz']}}",
        "cannot evaluate '{{=inputs.parameters['zz']}}': no input parameter 'zz' (known: a, "
        "empty, f, i, msg, msg_list, my-param, n, obj, x)",
    ),
    (
        "{{=steps['nope'].outputs}}",
        "cannot evaluate '{{=steps['nope'].outputs}}': no step 'nope' in scope "
        "(known: a, b, flip, my-step, s1, s2)",
    ),
    # unclosed tags
    ("ab {{x", "cannot render 'ab {{x': '{{' has no matching '}}' at column 4"),
    ("{{='abc}}", "cannot render '{{='abc}}': '{{=' has no matching '}}' at column 1"),
    # syntax, with the column inside the expression
    ("{{=1 +}}", "cannot evaluate '{{=1 +}}': unexpected end of expression at column 4"),
    (
        "{{=(1 + 2}}",
        "cannot evaluate '{{=(1 + 2}}': unexpected end of expression (expected ')') at column 7",
    ),
    (
        "{{=[1, 2}}",
        "cannot evaluate '{{=[1, 2}}': unexpected end of expression (expected ',' or ']') "
        "at column 6",
    ),
    (
        "{{={a: 1 b: 2}}}",
        "cannot evaluate '{{={a: 1 b: 2}}}': unexpected token 'b' (expected ',' or '}') "
        "at column 7",
    ),
    ("{{=1 2}}", "cannot evaluate '{{=1 2}}': unexpected token '2' at column 3"),
    (
        "{{='a' @ 1}}",
        "cannot evaluate '{{='a' @ 1}}': unrecognized character '@' at column 5",
    ),
    (
        "{{=#}}",
        "cannot evaluate '{{=#}}': cannot use pointer accessor outside predicate at column 1",
    ),
    (
        "{{=a ?? b + 1}}",
        "cannot evaluate '{{=a ?? b + 1}}': operator (+) and coalesce expressions (??) cannot "
        "be mixed; wrap either in parentheses at column 8",
    ),
    # unknown functions
    ("{{=foo(1)}}", "cannot evaluate '{{=foo(1)}}': unknown function 'foo'"),
    (
        "{{=sprig.nope(1)}}",
        "cannot evaluate '{{=sprig.nope(1)}}': unknown sprig function 'nope'",
    ),
    (
        "{{=sprig.len('x')}}",
        "cannot evaluate '{{=sprig.len('x')}}': unknown sprig function 'len'; did you mean "
        "len() without 'sprig.'?",
    ),
    (
        "{{=toJson(1, 2)}}",
        "cannot evaluate '{{=toJson(1, 2)}}': invalid number of arguments for toJson (got 2)",
    ),
    (
        "{{=split('a')}}",
        "cannot evaluate '{{=split('a')}}': invalid number of arguments for split (got 1)",
    ),
    # division by zero
    ("{{=1 % 0}}", "cannot evaluate '{{=1 % 0}}': integer divide by zero"),
    ("{{=1.5 % 0}}", "cannot evaluate '{{=1.5 % 0}}': float modulo by zero"),
    (
        "{{=1 / 0}}",
        "cannot evaluate '{{=1 / 0}}': the result +Inf cannot be rendered as JSON",
    ),
    (
        "{{=sprig.div(1, 0)}}",
        "cannot evaluate '{{=sprig.div(1, 0)}}': sprig.div: integer divide by zero",
    ),
    # type errors
    ("{{='a' + 1}}", "cannot evaluate '{{='a' + 1}}': invalid operation: string + int"),
    ("{{='a' - 'b'}}", "cannot evaluate '{{='a' - 'b'}}': invalid operation: string - string"),
    ("{{=1 < 'a'}}", "cannot evaluate '{{=1 < 'a'}}': invalid operation: int < string"),
    ("{{=!1}}", "cannot evaluate '{{=!1}}': invalid operation: ! int"),
    ("{{=-'a'}}", "cannot evaluate '{{=-'a'}}': invalid operation: - string"),
    (
        "{{=1 && true}}",
        "cannot evaluate '{{=1 && true}}': operator '&&' needs bool operands, got int",
    ),
    (
        "{{='x' ? 1 : 2}}",
        "cannot evaluate '{{='x' ? 1 : 2}}': non-bool expression (type string) used as condition",
    ),
    (
        "{{=[1][5]}}",
        "cannot evaluate '{{=[1][5]}}': index out of range: 5 (array length is 1)",
    ),
    ("{{='a'.b}}", "cannot evaluate '{{='a'.b}}': cannot fetch b from string"),
    ("{{=len(1)}}", "cannot evaluate '{{=len(1)}}': invalid argument for len (type int)"),
    ("{{=asInt('1.5')}}", "cannot evaluate '{{=asInt('1.5')}}': invalid operation: int(1.5)"),
    (
        "{{=asFloat('abc')}}",
        "cannot evaluate '{{=asFloat('abc')}}': invalid operation: float(abc)",
    ),
    (
        "{{=1 in 'abc'}}",
        "cannot evaluate '{{=1 in 'abc'}}': operator \"in\" not defined on string",
    ),
    (
        "{{=sprig.untilStep(0, 'x', 1)}}",
        "cannot evaluate '{{=sprig.untilStep(0, 'x', 1)}}': sprig.untilStep: cannot use x "
        "(string) as int",
    ),
    ("{{=map(1, #)}}", "cannot evaluate '{{=map(1, #)}}': map() needs an array, got int"),
    (
        "{{=filter([1], {#})}}",
        "cannot evaluate '{{=filter([1], {#})}}': predicate of filter() must return a bool, "
        "got int",
    ),
    (
        "{{=jsonpath('{}', '$.a')}}",
        "cannot evaluate '{{=jsonpath('{}', '$.a')}}': jsonpath '$.a': key 'a' not found",
    ),
    (
        "{{=jsonpath('[1]', '$[?(@ > 0)]')}}",
        "cannot evaluate '{{=jsonpath('[1]', '$[?(@ > 0)]')}}': jsonpath '$[?(@ > 0)]': "
        "filter and script expressions are not supported",
    ),
    (
        "{{=jsonpath('{', '$')}}",
        "cannot evaluate '{{=jsonpath('{', '$')}}': jsonpath: invalid JSON document: Expecting "
        "property name enclosed in double quotes at character 1",
    ),
    (
        "{{=nil}}",
        "cannot evaluate '{{=nil}}': the expression evaluated to nil, which cannot be substituted",
    ),
]


@pytest.mark.parametrize(("text", "message"), RENDER_ERRORS)
def test_render_error_message(text: str, message: str, scope: dict) -> None:
    with pytest.raises(ExpressionError) as info:
        render(text, scope)
    assert str(info.value) == message


EVALUATE_ERRORS = [
    ("", "cannot evaluate '': empty expression"),
    (
        "a.b",
        "cannot evaluate 'a.b': unknown variable 'a' "
        "(known: inputs, item, pod, steps, tasks, workflow)",
    ),
    ("1 +\n2 +", "cannot evaluate '1 +\n2 +': unexpected end of expression at line 2, column 4"),
    # as in Argo, names are checked before evaluation, even in a branch never taken
    (
        "true || nosuch.var",
        "cannot evaluate 'true || nosuch.var': unknown variable 'nosuch' "
        "(known: inputs, item, pod, steps, tasks, workflow)",
    ),
]


@pytest.mark.parametrize(("expr", "message"), EVALUATE_ERRORS)
def test_evaluate_error_message(expr: str, message: str, scope: dict) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate(expr, scope)
    assert str(info.value) == message


HINT = ' (hint: quote values that contain spaces or symbols, e.g. "my-value")'
CONDITION_ERRORS = [
    (
        "hello world == x",
        "cannot evaluate condition 'hello world == x': unexpected 'world' after 'hello' "
        "at column 7" + HINT,
    ),
    (
        "my-step == my-step",
        "cannot evaluate condition 'my-step == my-step': Value 'my' cannot be used with the "
        "modifier '-', it is not a number" + HINT,
    ),
    (
        "1 < a",
        "cannot evaluate condition '1 < a': Value '1' cannot be used with the comparator '<', "
        "it is not a number",
    ),
    (
        "v1.2 == v1.2",
        "cannot evaluate condition 'v1.2 == v1.2': 'v1.2' is read as a field access, which "
        "conditions cannot evaluate; quote it: 'v1.2' at column 1",
    ),
    (
        "1 + 2",
        "cannot evaluate condition '1 + 2': the condition evaluated to 3, not to true or false",
    ),
    (
        "'abc == x",
        "cannot evaluate condition ''abc == x': unclosed string literal at column 1",
    ),
    ("a == ", "cannot evaluate condition 'a == ': unexpected end of condition"),
    (
        "(1 < 2",
        "cannot evaluate condition '(1 < 2': unbalanced parenthesis at column 1",
    ),
    (
        "1 <> 2",
        "cannot evaluate condition '1 <> 2': invalid token '<>' at column 3" + HINT,
    ),
    (
        "1 && true",
        "cannot evaluate condition '1 && true': Value '1' cannot be used with the logical "
        "operator '&&', it is not a bool",
    ),
    (
        "!abc",
        "cannot evaluate condition '!abc': Value 'abc' cannot be used with the prefix '!'",
    ),
    (
        "a in b",
        "cannot evaluate condition 'a in b': Value 'b' cannot be used with the comparator "
        "'in', it is not a number",
    ),
    (
        "{{steps.flip.outputs.result}} == hello world",
        "cannot evaluate condition 'heads == hello world' (rendered from "
        "'{{steps.flip.outputs.result}} == hello world'): unexpected 'world' after 'hello' "
        "at column 16" + HINT,
    ),
]


@pytest.mark.parametrize(("when", "message"), CONDITION_ERRORS)
def test_condition_error_message(when: str, message: str, scope: dict) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_condition(when, scope)
    assert str(info.value) == message


def test_condition_with_unknown_tag_names_the_tag(scope: dict) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_condition("{{steps.nope.status}} == Succeeded", scope)
    assert str(info.value) == (
        "cannot evaluate '{{steps.nope.status}}': no step 'nope' in scope "
        "(known: a, b, flip, my-step, s1, s2)"
    )


def test_expression_error_carries_parts(scope: dict) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("1 +", scope)
    error = info.value
    assert isinstance(error, ValueError)
    assert (error.expression, error.position) == ("1 +", 3)
    assert error.problem == "unexpected end of expression at column 4"

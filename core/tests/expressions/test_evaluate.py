"""evaluate(): expr-lang literals, operators, precedence, access, builtins, closures."""

from __future__ import annotations

import math

import pytest
from dflow.expressions import evaluate


def same(actual, expected) -> bool:
    """Equal value and equal type, recursively (3 is not 3.0, True is not 1)."""
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            same(actual[k], expected[k]) for k in expected
        )
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(actual)
    return actual == expected


LITERALS = [
    ("42", 42),
    ("0x2A", 42),
    ("0o52", 42),
    ("0b101010", 42),
    ("1_000", 1000),
    ("0.5", 0.5),
    (".5", 0.5),
    ("1e3", 1000.0),
    ("'single'", "single"),
    ('"double"', "double"),
    ('"esc\\n\\t\\u00e9"', "esc\n\té"),
    ("`raw\\n`", "raw\\n"),
    ("true", True),
    ("false", False),
    ("nil", None),
    ("[1, 'a', true]", [1, "a", True]),
    ("[1, 2,]", [1, 2]),
    ("[]", []),
    ("{a: 1, 'b': 2, \"c\": 3}", {"a": 1, "b": 2, "c": 3}),
    ("{(1 + 1): 'two'}", {2: "two"}),
    ("{}", {}),
    ("1 /* comment */ + 1 // trailing", 2),
]

ARITHMETIC = [
    ("1 + 2", 3),
    ("1 + 2.5", 3.5),
    ("5 - 7", -2),
    ("3 * 4", 12),
    ("3 * 0.5", 1.5),
    ("7 / 2", 3.5),
    ("4 / 2", 2.0),
    ("7 % 3", 1),
    ("-7 % 3", -1),
    ("7 % -3", 1),
    ("7.5 % 2", 1.5),
    ("2 ** 3", 8.0),
    ("2 ^ 3", 8.0),
    ("2 ** 3 ** 2", 512.0),
    ("-2 ** 2", -4.0),
    ("-(2 + 3)", -5),
    ("+4", 4),
    ("'ab' + 'cd'", "abcd"),
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 4 - 3", 3),
    ("2 * 3 % 4", 2),
    ("1 / 0", math.inf),
    ("-1 / 0", -math.inf),
    ("1..3", [1, 2, 3]),
    ("3..1", []),
]

COMPARISON_AND_LOGIC = [
    ("1 == 1.0", True),
    ("'3' == 3", False),
    ("nil == nil", True),
    ("[1, 2] == [1, 2]", True),
    ("{a: 1} == {a: 1}", True),
    ("1 != 2", True),
    ("2 < 3", True),
    ("2.5 <= 2", False),
    ("'abc' < 'abd'", True),
    ("3 >= 3", True),
    ("1 < 2 < 3", True),
    ("3 > 2 > 2", False),
    ("true && false", False),
    ("true and true", True),
    ("false || true", True),
    ("false or false", False),
    ("!true", False),
    ("not false", True),
    ("!(1 > 2) && (2 >= 2 || false)", True),
    ("false && (1 / 'x' == 1)", False),
    ("true || 1 / 'x' == 1", True),
    ("true || false && false", True),
    ("1 + 1 == 2 && 'a' < 'b'", True),
    ("2 in [1, 2, 3]", True),
    ("'z' in ['a']", False),
    ("'k' in {k: 1}", True),
    ("'x' not in ['a']", True),
    ("'hello' contains 'ell'", True),
    ("'hello' startsWith 'he'", True),
    ("'hello' endsWith 'lo'", True),
    ("'hello' not endsWith 'x'", True),
    ("'abc123' matches '^[a-z]+\\\\d+$'", True),
    ("'abc' matches 'z'", False),
]

CONDITIONAL = [
    ("true ? 1 : 2", 1),
    ("false ? 1 : 2", 2),
    ("1 > 2 ? 'a' : 3 > 2 ? 'b' : 'c'", "b"),
    ("nil ?? 'default'", "default"),
    ("'set' ?? 'default'", "set"),
    ("inputs.parameters.nosuch ?? 'fallback'", "fallback"),
    ("inputs.parameters.x ?? 'fallback'", "3"),
    ("{a: nil}.a?.b", None),
    ("inputs?.parameters?.x", "3"),
    ("let y = 2; y * 3", 6),
]

ACCESS = [
    ("inputs.parameters.x", "3"),
    ("inputs.parameters['x']", "3"),
    ("inputs['parameters']['my-param']", "hyphen"),
    ("steps['my-step'].outputs.parameters['p']", "q"),
    ("steps.a.status", "Succeeded"),
    ("steps.b.exitCode", "1"),
    ("tasks.t.outputs.parameters.p", "7"),
    ("item.order", 0),
    ("item.nested.b[1]", 2),
    ("item['k']", "v"),
    ("workflow.name", "wf-x"),
    ("workflow.parameters.p", "wp"),
    ("pod.name", "wf-x-123"),
    ("[1, 2, 3][0]", 1),
    ("[1, 2, 3][-1]", 3),
    ("[1, 2, 3][1.9]", 2),
    ("'hello'[1]", "e"),
    ("[1, 2, 3, 4][1:3]", [2, 3]),
    ("[1, 2, 3, 4][:2]", [1, 2]),
    ("[1, 2, 3, 4][2:]", [3, 4]),
    ("[1, 2, 3, 4][-3:-1]", [2, 3]),
    ("[1, 2][5:9]", []),
    ("'hello'[1:3]", "el"),
    ("{a: {b: 1}}.a.b", 1),
    ("sprig.fromJson('{}').missing", None),
    ("'parameters' in inputs", True),
    ("$env.pod.name", "wf-x-123"),
]

ARGO_FUNCTIONS = [
    ("asInt(inputs.parameters.x)", 3),
    ("asInt('-12')", -12),
    ("asInt(3.9)", 3),
    ("asFloat(inputs.parameters.f)", 2.5),
    ("asFloat('1e2')", 100.0),
    ("asFloat(2)", 2.0),
    ("toJson([1, 'a', {z: 1, a: nil}])", '[1,"a",{"a":null,"z":1}]'),
    ("toJson('<b>&')", '"\\u003cb\\u003e\\u0026"'),
    ("toJson(1.0)", "1"),
    ("toJson(sprig.fromJson(inputs.parameters.a))", "[10,20,30]"),
    ("jsonpath(inputs.parameters.obj, '$.k.v[0]')", 1.0),
    ("jsonpath(inputs.parameters.obj, '$.name')", "dflow"),
    ("jsonpath(inputs.parameters.obj, '$')['name']", "dflow"),
    ("jsonpath(inputs.parameters.a, '$[*]')", [10.0, 20.0, 30.0]),
    ("jsonpath(inputs.parameters.a, '$[-1]')", 30.0),
    ("jsonpath(inputs.parameters.a, '$[0:2]')", [10.0, 20.0]),
    ("jsonpath(inputs.parameters.obj, \"$['k']['v']\")", [1.0, 2.0]),
    ("jsonpath(inputs.parameters.obj, '$..v')", [[1.0, 2.0]]),
    ("jsonpath('[{\"a\": 1}, {\"a\": 2}]', '$[*].a')", [1.0, 2.0]),
    ("string(1)", "1"),
    ("string(2.0)", "2"),
    ("string(1e6)", "1e+06"),
    ("string(123456.5)", "123456.5"),
    ("string(0.0001)", "0.0001"),
    ("string(0.00001)", "1e-05"),
    ("string(true)", "true"),
    ("string(nil)", "<nil>"),
    ("string([1, 'a'])", "[1 a]"),
    ("string({b: 1, a: 2})", "map[a:2 b:1]"),
]

EXPR_BUILTINS = [
    ("len('héllo')", 5),
    ("len([1, 2])", 2),
    ("len({a: 1})", 1),
    ("len(sprig.fromJson(inputs.parameters['msg_list']))", 3),
    ("int('42')", 42),
    ("int(2.7)", 2),
    ("float('0.25')", 0.25),
    ("abs(-3)", 3),
    ("abs(-2.5)", 2.5),
    ("ceil(1.2)", 2.0),
    ("floor(1.8)", 1.0),
    ("round(2.5)", 3.0),
    ("round(-2.5)", -3.0),
    ("trim('  x  ')", "x"),
    ("trim('__x__', '_')", "x"),
    ("trimPrefix('HelloWorld', 'Hello')", "World"),
    ("trimSuffix('HelloWorld', 'World')", "Hello"),
    ("upper('abc')", "ABC"),
    ("lower('ABC')", "abc"),
    ("split('a,b,c', ',')", ["a", "b", "c"]),
    ("split('a,b,c', ',', 2)", ["a", "b,c"]),
    ("splitAfter('a,b', ',')", ["a,", "b"]),
    ("replace('aaa', 'a', 'b')", "bbb"),
    ("repeat('ab', 3)", "ababab"),
    ("join(['a', 'b'], '-')", "a-b"),
    ("join(['a', 'b'])", "ab"),
    ("indexOf('apple pie', 'pie')", 6),
    ("lastIndexOf('a-b-c', '-')", 3),
    ("hasPrefix('abc', 'ab')", True),
    ("hasSuffix('abc', 'bc')", True),
    ("max(1, 5, 3)", 5),
    ("max([1.5, 0.5])", 1.5),
    ("min(4, 2)", 2),
    ("mean([1, 2, 3])", 2.0),
    ("median([3, 1, 4, 2])", 2.5),
    ("toJSON({b: [1]})", '{\n  "b": [\n    1\n  ]\n}'),
    ("fromJSON('{\"a\": [1, true]}')", {"a": [1.0, True]}),
    ("toBase64('Hello World')", "SGVsbG8gV29ybGQ="),
    ("fromBase64('SGVsbG8gV29ybGQ=')", "Hello World"),
    ("first([1, 2])", 1),
    ("first([])", None),
    ("last([1, 2])", 2),
    ("get({a: 1}, 'a')", 1),
    ("get([1], 5)", None),
    ("take([1, 2, 3], 2)", [1, 2]),
    ("keys({b: 1, a: 2})", ["a", "b"]),
    ("values({b: 1, a: 2})", [2, 1]),
    ("toPairs({a: 1})", [["a", 1]]),
    ("fromPairs([['a', 1]])", {"a": 1}),
    ("sort([3, 1, 2])", [1, 2, 3]),
    ("sort(['b', 'a'], 'desc')", ["b", "a"]),
    ("reverse([1, 2])", [2, 1]),
    ("uniq([1, 1, 2])", [1, 2]),
    ("concat([1], [2, 3])", [1, 2, 3]),
    ("flatten([1, [2, [3]]])", [1, 2, 3]),
    ("type(1)", "int"),
    ("type('a')", "string"),
    ("type([])", "array"),
    ("'a,b' | split(',') | join('+')", "a+b"),
]

CLOSURES = [
    ("map([1, 2], {# * 2})", [2, 4]),
    ("map([1, 2], # * 10)", [10, 20]),
    ("filter([1, 2, 3, 4], {# % 2 == 0})", [2, 4]),
    ("all([1, 2], {# > 0})", True),
    ("all([], {# > 0})", True),
    ("any([1, 2], {# > 1})", True),
    ("none([1, 2], {# > 5})", True),
    ("one([1, 2], {# > 1})", True),
    ("count([1, 2, 3], {# >= 2})", 2),
    ("sum([1, 2, 3])", 6),
    ("sum([1, 2], {# * 1.5})", 4.5),
    ("find([1, 2, 3], # > 1)", 2),
    ("findIndex([1, 2, 3], # > 1)", 1),
    ("findLast([1, 2, 3], # < 3)", 2),
    ("findLastIndex([1, 2, 3], # > 5)", -1),
    ("reduce([1, 2, 3], #acc + #)", 6),
    ("reduce([1, 2, 3], #acc + #, 10)", 16),
    ("map(['a', 'b'], {#index})", [0, 1]),
    ("map([{n: 1}, {n: 2}], {.n})", [1, 2]),
    ("filter([{n: 1}, {n: 2}], .n > 1)", [{"n": 2}]),
    ("sortBy([{n: 2}, {n: 1}], .n)", [{"n": 1}, {"n": 2}]),
    ("groupBy([1, 2, 3], # % 2)", {1: [1, 3], 0: [2]}),
    ("map([[1, 2], [3]], {map(#, {# + 1})})", [[2, 3], [4]]),
    ("[1, 2] | map(# + 1)", [2, 3]),
    (
        "map(sprig.untilStep(0, len(sprig.fromJson(inputs.parameters['a'])), 1), "
        "{{'order': #, 'a': jsonpath(inputs.parameters['a'], '$')[#]}})",
        [{"order": 0, "a": 10.0}, {"order": 1, "a": 20.0}, {"order": 2, "a": 30.0}],
    ),
]

DFLOW_EMITTED = [
    ("toJson(sprig.untilStep(0, 5, 1))", "[0,1,2,3,4]"),
    ("toJson(sprig.untilStep(0, sprig.atoi(inputs.parameters['n']), 1))", "[0,1,2,3,4]"),
    ("len(sprig.fromJson(inputs.parameters['msg_list']))", 3),
    (
        "asFloat(steps['a'].outputs.parameters['x']) < asFloat(steps['b'].outputs.parameters['y'])",
        True,
    ),
    (
        "(asFloat(inputs.parameters['i']) < 3) ? steps['s1'].outputs.parameters['o'] "
        ": steps['s2'].outputs.parameters['o']",
        "one",
    ),
    (
        "(asFloat(inputs.parameters['n']) < 3) ? steps['s1'].outputs.parameters['o'] "
        ": steps['s2'].outputs.parameters['o']",
        "two",
    ),
    ("string(inputs.parameters.x) == inputs.parameters.x ? inputs.parameters.x : 'j'", "3"),
    ("string(item) == item ? item : toJson(item)", '{"k":"v","nested":{"b":[1,2]},"order":0}'),
    ("sprig.int(asInt(inputs.parameters.n) / 2) + 1", 3),
    ("asInt(inputs.parameters.n) % 3 > 0", True),
    ("asInt(inputs.parameters.x) % 3 > 0 ? 1 : 0", 0),
]


@pytest.mark.parametrize(
    ("expr", "expected"),
    LITERALS
    + ARITHMETIC
    + COMPARISON_AND_LOGIC
    + CONDITIONAL
    + ACCESS
    + ARGO_FUNCTIONS
    + EXPR_BUILTINS
    + CLOSURES
    + DFLOW_EMITTED,
)
def test_evaluate(expr: str, expected, scope: dict) -> None:
    result = evaluate(expr, scope)
    assert same(result, expected), f"{expr!r} gave {result!r}, expected {expected!r}"

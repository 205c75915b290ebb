"""evaluate_condition(): Argo `when` (tags rendered, then govaluate with bare words as strings)."""

from __future__ import annotations

import pytest
from dflow.expressions import evaluate_condition

CONDITIONS = [
    ("", True),
    ("   ", True),
    ("true", True),
    ("false", False),
    ("3 < 10", True),
    ("10 < 3", False),
    ("3 == 3.0", True),
    ("0x10 == 16", True),
    ("-1 < 0", True),
    ("2 - -1 == 3", True),
    ("1 + 2 * 3 == 7", True),
    ("(1 + 2) * 3 == 9", True),
    ("2 ** 3 == 8", True),
    ("7 % 4 == 3", True),
    ("10 / 4 == 2.5", True),
    ("heads == heads", True),
    ("tails == heads", False),
    ("Succeeded == Succeeded", True),
    ("Succeeded != Failed", True),
    ('"a" == "a"', True),
    ("'a' == \"a\"", True),
    ("'a b' == 'a b'", True),
    ("'my-step' == \"my-step\"", True),
    ("abc < abd", True),
    ("'10' < '9'", True),
    ("'3' == 3", False),
    ("True == true", False),
    ("!(1 > 2) && (2 >= 2 || false)", True),
    ("!true", False),
    ("true && false || true", True),
    ("false || false", False),
    ("a in (a, b)", True),
    ("c in (a, b)", False),
    ("1 in (1, 2)", True),
    ("abc =~ '^a.c$'", True),
    ("abc !~ 'z'", True),
    ("'x' + 1 == x1", True),
    ("1 + 1 + a == '2a'", True),
    ("(true ? 1 : 2) == 1", True),
    ("true ? true : false", True),
    ("(false ? 1 : 2) == 2", True),
    ("3 & 1 == 1", True),
    ("1 << 3 == 8", True),
    ("5 > 3 && 2 > 1", True),
    # after rendering {{...}} tags
    ("{{inputs.parameters.i}} < {{inputs.parameters.n}}", True),
    ("{{inputs.parameters.x}} == 3", True),
    ("{{inputs.parameters.f}} > 2", True),
    ("{{steps.flip.outputs.result}} == heads", True),
    ("{{steps.flip.outputs.result}} == tails", False),
    ("{{steps.a.status}} == Succeeded", True),
    ("{{steps.b.status}} == Succeeded", False),
    ("{{tasks.t.exitCode}} == 0", True),
    ("'{{workflow.status}}' == 'Succeeded'", True),
    ("{{item.k}} == v", True),
    ("{{=asInt(inputs.parameters.x) * 2}} == 6", True),
    ("{{=asFloat(steps['a'].outputs.parameters['x']) < 2}}", True),
]


@pytest.mark.parametrize(("when", "expected"), CONDITIONS)
def test_evaluate_condition(when: str, expected: bool, scope: dict) -> None:
    assert evaluate_condition(when, scope) is expected

"""The pod runtime's standard-library type checker agrees with typeguard on the sign grammar.

Each case is a value and a type, written as Python source so that every interpreter (3.7-3.13)
builds them itself: typeguard (in this client) gives the expected verdict, and the stdlib
checker must give the same one here and under each pyenv interpreter (a case whose type does
not exist on an old Python, such as ``int | None`` before 3.10, is left out there).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dflow.python import typecheck
from runtime_scenarios import VERSIONS, interpreter

SETUP = """\
import collections.abc as abc, typing
from pathlib import Path
from typing import *
from dflow.python.opio import NestedDict
if hasattr(typing, "TypedDict"):  # 3.8+
    class TD(TypedDict):
        a: int
        b: str
"""

# (value, type): what OP signs use, and the corners where typeguard has an opinion
CASES = [
    ("1", "int"),
    ("True", "int"),
    ("1.5", "int"),
    ("'1'", "int"),
    ("1", "float"),
    ("1.5", "float"),
    ("True", "float"),
    ("'x'", "float"),
    ("1", "complex"),
    ("1.5", "complex"),
    ("1j", "complex"),
    ("None", "complex"),
    ("'x'", "str"),
    ("b'x'", "str"),
    ("True", "bool"),
    ("1", "bool"),
    ("b'x'", "bytes"),
    ("bytearray(b'x')", "bytes"),
    ("'x'", "bytes"),
    ("[1]", "list"),
    ("(1,)", "list"),
    ("{'a': 1}", "dict"),
    ("[('a', 1)]", "dict"),
    ("{1}", "set"),
    ("frozenset({1})", "set"),
    ("[1]", "set"),
    ("(1,)", "tuple"),
    ("None", "None"),
    ("None", "type(None)"),
    ("0", "None"),
    ("[1, 2]", "List[int]"),
    ("[1, 'a']", "List[int]"),
    ("[]", "List[int]"),
    ("[1, 2.5]", "List[float]"),
    ("[[1], [2, 3]]", "List[List[int]]"),
    ("[[1], ['x']]", "List[List[int]]"),
    ("(1, 2)", "List[int]"),
    ("[1]", "List"),
    ("['a', None]", "List[Optional[str]]"),
    ("{'a': 1.5, 'b': 2}", "Dict[str, float]"),
    ("{1: 1}", "Dict[str, int]"),
    ("{'a': 'x'}", "Dict[str, int]"),
    ("{'a': [1]}", "Dict[str, List[int]]"),
    ("{'a': {'b': 1}}", "Dict[str, Dict[str, int]]"),
    ("{'a': 1}", "Dict"),
    ("{'a': 1}", "Mapping[str, int]"),
    ("{'a': 'x'}", "abc.Mapping[str, int]"),
    ("{1, 2}", "Set[int]"),
    ("frozenset({1})", "Set[int]"),
    ("{1, 'a'}", "Set[int]"),
    ("frozenset({1})", "FrozenSet[int]"),
    ("{1}", "FrozenSet[int]"),
    ("(1, 'a')", "Tuple[int, str]"),
    ("(1, 2)", "Tuple[int, str]"),
    ("[1, 'a']", "Tuple[int, str]"),
    ("(1, 2, 3)", "Tuple[int, ...]"),
    ("(1, 'a')", "Tuple[int, ...]"),
    ("()", "Tuple[()]"),
    ("(1,)", "Tuple[()]"),
    ("(1,)", "Tuple[int]"),
    ("[1, 2]", "Sequence[int]"),
    ("'ab'", "Sequence[str]"),
    ("(1, 'a')", "Sequence[int]"),
    ("1", "Iterable[int]"),
    ("[1]", "Iterable[int]"),
    ("{'a'}", "Collection[str]"),
    ("None", "Optional[int]"),
    ("1", "Optional[int]"),
    ("'1'", "Optional[int]"),
    ("1", "Union[int, str]"),
    ("'a'", "Union[int, str]"),
    ("1.5", "Union[int, str]"),
    ("[1, 'a']", "List[Union[int, str]]"),
    ("None", "Union[None, List[int]]"),
    ("1", "int | None"),
    ("None", "int | str"),
    ("[1]", "list[int]"),
    ("['a']", "list[int]"),
    ("{'a': 1}", "dict[str, int]"),
    ("(1, 'a')", "tuple[int, str]"),
    ("()", "tuple[()]"),
    ("1", "Literal[1, 2]"),
    ("3", "Literal[1, 2]"),
    ("True", "Literal[1]"),
    ("'a'", "Literal['a']"),
    ("1", "Any"),
    ("None", "Any"),
    ("object()", "object"),
    ("Path('a')", "Path"),
    ("'a'", "Path"),
    ("{'a': 'b'}", "NestedDict[str]"),
    ("int", "Type[int]"),
    ("bool", "Type[int]"),
    ("str", "Type[int]"),
    ("1", "Type[int]"),
    ("len", "Callable"),
    ("1", "Callable[[int], int]"),
    ("1", "'int'"),
    ("{'a': 1, 'b': 'x'}", "TD"),
    ("{'a': 1}", "TD"),
    ("{'a': 'x', 'b': 'x'}", "TD"),
    ("{'a': 1, 'b': 'x', 'c': 0}", "TD"),
    ("[{'a': 1, 'b': 'x'}]", "List[TD]"),
    ("1", "NewType('Id', int)"),
    ("'1'", "NewType('Id', int)"),
    ("1", "Annotated[int, 'meta']"),
    ("'1'", "Annotated[int, 'meta']"),
]

VERDICTS = """\
import json, sys
sys.path.insert(0, sys.argv[1])
from dflow.python.typecheck import stdlib_ok
exec(SETUP)
out = {}
for i, (value, tp) in enumerate(json.loads(sys.argv[2])):
    try:
        v, t = eval(value), eval(tp)
    except Exception:
        continue  # this type does not exist on this Python
    out[i] = stdlib_ok(v, t)
print(json.dumps(out))
"""


def _typeguard_verdicts() -> list[bool]:
    scope: dict = {}
    exec(SETUP, scope)
    return [typecheck.typeguard_ok(eval(v, scope), eval(t, scope)) for v, t in CASES]


def _disagreements(verdicts: dict[str, bool], expected: list[bool], where: str) -> list[str]:
    return [
        f"{where}: {CASES[int(i)][0]} as {CASES[int(i)][1]}: typeguard says "
        f"{expected[int(i)]}, stdlib says {ok}"
        for i, ok in verdicts.items()
        if ok != expected[int(i)]
    ]


@pytest.mark.filterwarnings("ignore::typeguard.TypeHintWarning")  # the case "'int'"
def test_stdlib_checker_agrees_with_typeguard_here():
    assert typecheck.BACKEND == "typeguard"  # the client has typeguard 4
    expected = _typeguard_verdicts()
    assert expected.count(True) > 40 and expected.count(False) > 40  # both sides covered
    scope: dict = {}
    exec(SETUP, scope)
    verdicts = {
        str(i): typecheck.stdlib_ok(eval(v, scope), eval(t, scope))
        for i, (v, t) in enumerate(CASES)
    }
    wrong = _disagreements(verdicts, expected, sys.version.split()[0])
    assert not wrong, f"{len(wrong)} of {len(CASES)} cases disagree:\n" + "\n".join(wrong)


@pytest.mark.filterwarnings("ignore::typeguard.TypeHintWarning")
def test_stdlib_checker_agrees_with_typeguard_on_every_interpreter(runtime_packages, tmp_path):
    expected = _typeguard_verdicts()
    code = "SETUP = " + repr(SETUP) + "\n" + VERDICTS
    wrong, checked = [], {}
    for version in VERSIONS:
        python = interpreter(version)
        proc = subprocess.run(
            [python, "-I", "-S", "-B", "-c", code, runtime_packages, json.dumps(CASES)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        verdicts = json.loads(proc.stdout)
        checked[version] = len(verdicts)
        wrong += _disagreements(verdicts, expected, f"Python {version}")
    assert not wrong, f"{len(wrong)} verdicts disagree:\n" + "\n".join(wrong)
    # only the 3.9/3.10 spellings and Literal/TypedDict/Annotated are missing on old Pythons
    assert min(checked.values()) >= len(CASES) - 25, checked

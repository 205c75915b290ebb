"""Argo ``when`` conditions: govaluate semantics after ``{{...}}`` substitution.

Argo renders the tags first, then parses the text with govaluate and turns every bare
word (a govaluate *variable*) into a string literal. So ``heads == heads``,
``Succeeded == Succeeded`` and ``{{steps.flip.outputs.result}} == tails`` compare
strings, while ``3 < 10`` compares numbers (govaluate numbers are all float64, so
``3 == 3.0``). The rule for bare words, as in govaluate's lexer: a word starts with a
letter and continues with letters, digits, ``_`` or ``.``; ``true``/``false`` are bools,
``in``/``IN`` is the operator; a word containing a dot is a field access that Argo cannot
evaluate. Anything else must be quoted (single or double quotes): ``hello world`` is two
words (an error), ``my-step`` is ``my`` minus ``step`` (an error), ``"my-step"`` works.

Operators, lowest precedence first: ``,`` (builds a list for ``in (a, b)``), ``? : ??``,
``||``, ``&&``, ``== != < <= > >= =~ !~ in``, ``& | ^``, ``<< >>``, ``+ -``, ``* / %``,
``**``, then prefix ``- ! ~``. ``==`` is strict (``"3" == 3`` is false), ordering needs
two numbers or two strings, ``+`` concatenates when either side is a string. Quoted
strings that look like dates are not turned into timestamps (govaluate does that).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .errors import ExpressionError, Problem, describe_position
from .template import render
from .values import go_sprint, is_number

_PREFIX = {"-", "!", "~"}
_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"?", ":", "??"}),
    frozenset({"||"}),
    frozenset({"&&"}),
    frozenset({"==", "!=", ">", ">=", "<", "<=", "=~", "!~", "in"}),
    frozenset({"&", "|", "^"}),
    frozenset({"<<", ">>"}),
    frozenset({"+", "-"}),
    frozenset({"*", "/", "%"}),
    frozenset({"**"}),
)
_OPERATORS = frozenset().union(*_LEVELS)
_HINT = ' (hint: quote values that contain spaces or symbols, e.g. "my-value")'


def _symbol_char(char: str) -> bool:
    return not (char.isalnum() or char in "()[]'\"" or char.isspace())


def _tokenize(text: str) -> list[tuple[str, Any, int]]:
    tokens: list[tuple[str, Any, int]] = []
    i, n = 0, len(text)

    def after_value() -> bool:
        return bool(tokens) and tokens[-1][0] in ("value", ")")

    while i < n:
        char = text[i]
        start = i
        if char.isspace():
            i += 1
        elif char.isdigit() or char == ".":
            if text.startswith(("0x", "0X"), i):
                j = i + 2
                while j < n and text[j] in "0123456789abcdefABCDEF":
                    j += 1
                tokens.append(("value", float(int(text[i + 2 : j] or "0", 16)), start))
            else:
                j = i
                while j < n and (text[j].isdigit() or text[j] == "."):
                    j += 1
                try:
                    tokens.append(("value", float(text[i:j]), start))
                except ValueError:
                    raise Problem(f"unable to parse numeric value {text[i:j]!r}", start)
            i = j
        elif char == ",":
            tokens.append(("op", ",", start))
            i += 1
        elif char in "()":
            tokens.append((char, char, start))
            i += 1
        elif char == "[":
            end = text.find("]", i)
            if end < 0:
                raise Problem("unclosed parameter bracket", start)
            tokens.append(("value", text[i + 1 : end], start))
            i = end + 1
        elif char.isalpha():
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_."):
                j += 1
            word = text[i:j]
            if word in ("true", "false"):
                tokens.append(("value", word == "true", start))
            elif word in ("in", "IN"):
                tokens.append(("op", "in", start))
            elif "." in word:
                raise Problem(
                    f"{word!r} is read as a field access, which conditions cannot evaluate; "
                    f"quote it: '{word}'",
                    start,
                )
            else:
                tokens.append(("value", word, start))  # Argo: bare words are strings
            i = j
        elif char in "'\"":
            out: list[str] = []
            j = i + 1
            while j < n and text[j] not in "'\"":  # either quote ends a govaluate string
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                out.append(text[j])
                j += 1
            if j >= n:
                raise Problem("unclosed string literal", start)
            tokens.append(("value", "".join(out), start))
            i = j + 1
        else:
            j = i
            while j < n and _symbol_char(text[j]):
                j += 1
            symbol = text[i:j]
            if symbol in _PREFIX and not after_value():
                tokens.append(("prefix", symbol, start))
            elif symbol in _OPERATORS:
                tokens.append(("op", symbol, start))
            else:
                raise Problem(f"invalid token {symbol!r}", start)
            i = j
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> tuple[str, Any, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def parse(self) -> Any:
        if not self.tokens:
            raise Problem("empty condition", 0)
        node = self.separated()
        tok = self.peek()
        if tok is not None:
            previous = self.tokens[self.index - 1]
            raise Problem(
                f"unexpected {go_sprint(tok[1])!r} after {go_sprint(previous[1])!r}", tok[2]
            )
        return node

    def separated(self) -> Any:
        node = self.level(0)
        while (tok := self.peek()) and tok[1] == "," and tok[0] == "op":
            self.index += 1
            node = ("bin", ",", node, self.level(0))
        return node

    def level(self, depth: int) -> Any:
        if depth == len(_LEVELS):
            return self.prefix()
        node = self.level(depth + 1)
        while (tok := self.peek()) and tok[0] == "op" and tok[1] in _LEVELS[depth]:
            self.index += 1
            node = ("bin", tok[1], node, self.level(depth + 1))
        return node

    def prefix(self) -> Any:
        tok = self.peek()
        if tok and tok[0] == "prefix":
            self.index += 1
            return ("pre", tok[1], self.prefix())
        return self.value()

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise Problem("unexpected end of condition", None)
        self.index += 1
        if tok[0] == "value":
            return ("lit", tok[1])
        if tok[0] == "(":
            node = self.separated()
            close = self.peek()
            if close is None or close[0] != ")":
                raise Problem("unbalanced parenthesis", tok[2])
            self.index += 1
            return node
        raise Problem(f"unexpected {tok[1]!r}", tok[2])


@lru_cache(maxsize=4096)
def parse_condition(text: str) -> Any:
    return _Parser(text).parse()


def _strict_equal(left: Any, right: Any) -> bool:
    """Go's reflect.DeepEqual on govaluate values (float64, string, bool, list, nil)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_strict_equal, left, right))
    return left == right


def _type_error(value: Any, op: str, kind: str) -> Problem:
    formats = {
        "logical": "Value '{}' cannot be used with the logical operator '{}', it is not a bool",
        "modifier": "Value '{}' cannot be used with the modifier '{}', it is not a number",
        "comparator": "Value '{}' cannot be used with the comparator '{}', it is not a number",
        "ternary": "Value '{}' cannot be used with the ternary operator '{}', it is not a bool",
        "prefix": "Value '{}' cannot be used with the prefix '{}'",
    }
    return Problem(formats[kind].format(go_sprint(value), op))


def _number(value: Any, op: str, kind: str = "modifier") -> float:
    if not is_number(value):
        raise _type_error(value, op, kind)
    return value


def _evaluate(node: Any) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "pre":
        value, op = _evaluate(node[2]), node[1]
        if op == "!":
            if not isinstance(value, bool):
                raise _type_error(value, op, "prefix")
            return not value
        number = _number(value, op, "prefix")
        return -number if op == "-" else float(~int(number))
    _, op, left_node, right_node = node
    left = _evaluate(left_node)
    # short circuits, as govaluate does
    if op in ("&&", "||"):
        if not isinstance(left, bool):
            raise _type_error(left, op, "logical")
        if left == (op == "||"):
            return left
        right = _evaluate(right_node)
        if not isinstance(right, bool):
            raise _type_error(right, op, "logical")
        return right
    if op == "?":
        if not isinstance(left, bool):
            raise _type_error(left, op, "ternary")
        return _evaluate(right_node) if left else None
    if op in (":", "??"):
        return left if left is not None else _evaluate(right_node)
    right = _evaluate(right_node)
    return _binary(op, left, right)


def _binary(op: str, left: Any, right: Any) -> Any:
    if op == ",":
        return [*left, right] if isinstance(left, list) else [left, right]
    if op == "==":
        return _strict_equal(left, right)
    if op == "!=":
        return not _strict_equal(left, right)
    if op in ("<", "<=", ">", ">="):
        if not (
            (is_number(left) and is_number(right))
            or (isinstance(left, str) and isinstance(right, str))
        ):
            raise _type_error(left, op, "comparator")
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    if op in ("=~", "!~"):
        if not isinstance(left, str) or not isinstance(right, str):
            raise _type_error(left if not isinstance(left, str) else right, op, "comparator")
        try:
            found = re.search(right, left) is not None
        except re.error as exc:
            raise Problem(f"unable to compile regexp pattern {right!r}: {exc}")
        return found if op == "=~" else not found
    if op == "in":
        if not isinstance(right, list):
            raise _type_error(right, op, "comparator")
        return any(_strict_equal(left, item) for item in right)
    if op == "+":
        if isinstance(left, str) or isinstance(right, str):
            return go_sprint(left) + go_sprint(right)
        return _number(left, op) + _number(right, op)
    a, b = _number(left, op), _number(right, op)
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            return math.nan if a == 0 else math.copysign(math.inf, a)
        return a / b
    if op == "%":
        return math.fmod(a, b) if b else math.nan
    if op == "**":
        try:
            return math.pow(a, b)
        except (OverflowError, ValueError):
            return math.inf if a > 0 else math.nan
    bits = {
        "&": lambda x, y: x & y,
        "|": lambda x, y: x | y,
        "^": lambda x, y: x ^ y,
        "<<": lambda x, y: x << y,
        ">>": lambda x, y: x >> y,
    }[op]
    return float(bits(int(a), int(b)))


def evaluate_condition(when: str, scope: Mapping) -> bool:
    """Decide an Argo ``when``: render ``{{...}}`` tags, then evaluate with govaluate rules.

    An empty condition is true. The result must be a bool.
    """
    if not when.strip():
        return True
    text = render(when, scope)
    detail = "" if text == when else f" (rendered from '{when}')"
    try:
        result = _evaluate(parse_condition(text))
    except Problem as exc:
        where = describe_position(text, exc.position)
        syntax = exc.message.startswith(("unexpected '", "invalid token")) or (
            "modifier" in exc.message
        )
        raise ExpressionError(
            text,
            exc.message + where + (_HINT if syntax else ""),
            exc.position,
            what="evaluate condition",
            detail=detail,
        )
    if not isinstance(result, bool):
        raise ExpressionError(
            text,
            f"the condition evaluated to {go_sprint(result)}, not to true or false",
            what="evaluate condition",
            detail=detail,
        )
    return result

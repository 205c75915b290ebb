"""Tree-walking interpreter for parsed expr-lang ASTs, with expr's runtime semantics.

Where the two differ on purpose: a missing key along a path that starts at a scope
variable (``inputs.parameters.typo``) is an error naming what is known, where expr would
yield nil; ``??`` and ``?.`` still turn such a miss into nil.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from . import nodes as n
from .errors import Problem, UnknownVariable
from .functions import FUNCTIONS, call_function
from .predicates import PREDICATE_BUILTINS
from .scope import missing_message
from .sprig import SPRIG, SprigNamespace
from .values import deep_equal, go_sprint, go_type, is_number, to_int


class Interpreter:
    """Evaluates one AST against a scope. Cheap to create; holds predicate frames."""

    def __init__(self, scope: Mapping) -> None:
        self.scope = scope
        self.frames: list[dict[str, Any]] = []  # predicate frames: {"": elem, "index": i}
        self.lets: dict[str, Any] = {}

    # entry -----------------------------------------------------------------------------------
    def eval(self, node: Any) -> Any:
        return _DISPATCH[type(node)](self, node)

    # leaves ----------------------------------------------------------------------------------
    def literal(self, node: n.Literal) -> Any:
        return node.value

    def identifier(self, node: n.Identifier) -> Any:
        name = node.name
        if name in self.lets:
            return self.lets[name]
        if name in self.scope:
            return self.scope[name]
        if name == "sprig":
            return SPRIG
        if name == "$env":
            return dict(self.scope)
        raise UnknownVariable(missing_message([], name, self.scope), node.pos)

    def pointer(self, node: n.Pointer) -> Any:
        if not self.frames:
            raise Problem("cannot use pointer accessor outside predicate", node.pos)
        frame = self.frames[-1]
        if node.name not in frame:
            raise Problem(f"unknown pointer #{node.name}", node.pos)
        return frame[node.name]

    # access ----------------------------------------------------------------------------------
    def scope_path(self, node: Any) -> list[str] | None:
        """The static dotted path of a member chain rooted at a scope variable, else None."""
        parts: list[str] = []
        while isinstance(node, n.Member):
            if not isinstance(node.key, n.Literal) or not isinstance(node.key.value, str | int):
                return None
            parts.append(str(node.key.value))
            node = node.obj
        if (
            isinstance(node, n.Identifier)
            and node.name not in self.lets
            and node.name in self.scope
        ):
            parts.append(node.name)
            return parts[::-1]
        return None

    def member(self, node: n.Member) -> Any:
        return self.fetch(self.eval(node.obj), self.eval(node.key), node)

    def fetch(self, base: Any, key: Any, node: n.Member) -> Any:
        if base is None:
            if node.optional:
                return None
            raise Problem(f"cannot fetch {go_sprint(key)} from <nil>", node.pos)
        if isinstance(base, SprigNamespace):
            return base.get(key, node.pos)
        if isinstance(base, Mapping):
            if key in base:
                return base[key]
            parents = self.scope_path(node.obj)
            if parents is not None and not node.optional:
                raise UnknownVariable(missing_message(parents, str(key), base), node.pos)
            return None
        if isinstance(base, list | tuple | str):
            if not is_number(key):
                raise Problem(f"cannot fetch {go_sprint(key)} from {go_type(base)}", node.pos)
            index = to_int(key)
            length = len(base)
            if index < 0:
                index += length
            if not 0 <= index < length:
                raise Problem(f"index out of range: {index} (array length is {length})", node.pos)
            return base[index]
        raise Problem(f"cannot fetch {go_sprint(key)} from {go_type(base)}", node.pos)

    def slice(self, node: n.Slice) -> Any:
        base = self.eval(node.obj)
        if not isinstance(base, list | tuple | str):
            raise Problem(f"cannot slice {go_type(base)}", node.pos)
        length = len(base)
        start = 0 if node.start is None else to_int(self.eval(node.start))
        stop = length if node.stop is None else to_int(self.eval(node.stop))
        # expr clamps like this instead of raising
        start = max(start + length if start < 0 else start, 0)
        stop = min(max(stop + length if stop < 0 else stop, 0), length)
        start = min(start, stop)
        return base[start:stop]

    # operators -------------------------------------------------------------------------------
    def unary(self, node: n.Unary) -> Any:
        value = self.eval(node.operand)
        if node.op in ("!", "not"):
            if not isinstance(value, bool):
                raise Problem(f"invalid operation: {node.op} {go_type(value)}", node.pos)
            return not value
        if not is_number(value):
            raise Problem(f"invalid operation: {node.op} {go_type(value)}", node.pos)
        return -value if node.op == "-" else value

    def binary(self, node: n.Binary) -> Any:
        op = node.op
        if op in ("and", "&&", "or", "||"):
            left = self.eval(node.left)
            if not isinstance(left, bool):
                raise Problem(f"operator {op!r} needs bool operands, got {go_type(left)}", node.pos)
            if (op in ("and", "&&")) != left:
                return left  # short-circuit: false && x, true || x
            right = self.eval(node.right)
            if not isinstance(right, bool):
                raise Problem(
                    f"operator {op!r} needs bool operands, got {go_type(right)}", node.pos
                )
            return right
        if op == "??":
            try:
                left = self.eval(node.left)
            except UnknownVariable:
                left = None
            return self.eval(node.right) if left is None else left
        left = self.eval(node.left)
        right = self.eval(node.right)
        try:
            return _BINARY[op](left, right)
        except Problem as exc:
            if exc.position is None:
                exc.position = node.pos
            raise

    def conditional(self, node: n.Conditional) -> Any:
        cond = self.eval(node.cond)
        if not isinstance(cond, bool):
            raise Problem(f"non-bool expression (type {go_type(cond)}) used as condition", node.pos)
        return self.eval(node.then if cond else node.otherwise)

    def array(self, node: n.ArrayLit) -> Any:
        return [self.eval(item) for item in node.items]

    def map(self, node: n.MapLit) -> Any:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.pairs:
            key = self.eval(key_node)
            try:
                hash(key)
            except TypeError:
                raise Problem(f"invalid map key of type {go_type(key)}", node.pos)
            result[key] = self.eval(value_node)
        return result

    def let(self, node: n.Let) -> Any:
        saved = self.lets
        self.lets = {**saved, node.name: self.eval(node.value)}
        try:
            return self.eval(node.body)
        finally:
            self.lets = saved

    def predicate(self, node: n.Predicate) -> Any:
        raise Problem("a predicate can only be an argument of map, filter, all, ...", node.pos)

    # calls -----------------------------------------------------------------------------------
    def call(self, node: n.Call) -> Any:
        callee = node.callee
        if isinstance(callee, n.Identifier):
            name = callee.name
            target = self.lets.get(name, self.scope.get(name))
            if callable(target):
                return call_function(name, target, [self.eval(a) for a in node.args], node.pos)
            if name in PREDICATE_BUILTINS:
                return PREDICATE_BUILTINS[name](self, node)
            if name in FUNCTIONS:
                args = [self.eval(a) for a in node.args]
                return call_function(name, FUNCTIONS[name], args, node.pos)
            raise Problem(f"unknown function {name!r}", node.pos)
        # member call: sprig.trim(x) or a callable stored in a map
        base = self.eval(callee.obj)
        key = self.eval(callee.key)
        target = self.fetch(base, key, callee)
        name = f"sprig.{key}" if isinstance(base, SprigNamespace) else go_sprint(key)
        if not callable(target):
            raise Problem(f"{name} is not a function", node.pos)
        return call_function(name, target, [self.eval(a) for a in node.args], node.pos)

    def run_predicate(self, predicate: Any, frame: dict[str, Any]) -> Any:
        body = predicate.body if isinstance(predicate, n.Predicate) else predicate
        self.frames.append(frame)
        try:
            return self.eval(body)
        finally:
            self.frames.pop()


_DISPATCH: dict[type, Callable[[Interpreter, Any], Any]] = {
    n.Literal: Interpreter.literal,
    n.Identifier: Interpreter.identifier,
    n.Pointer: Interpreter.pointer,
    n.Member: Interpreter.member,
    n.Slice: Interpreter.slice,
    n.Unary: Interpreter.unary,
    n.Binary: Interpreter.binary,
    n.Conditional: Interpreter.conditional,
    n.ArrayLit: Interpreter.array,
    n.MapLit: Interpreter.map,
    n.Let: Interpreter.let,
    n.Predicate: Interpreter.predicate,
    n.Call: Interpreter.call,
}


# binary operator semantics (expr's vm/runtime helpers) -------------------------------------
def _invalid(op: str, left: Any, right: Any) -> Problem:
    return Problem(f"invalid operation: {go_type(left)} {op} {go_type(right)}")


def _arith(op: str):
    def apply(left: Any, right: Any) -> Any:
        if not (is_number(left) and is_number(right)):
            raise _invalid(op, left, right)
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        return left * right

    return apply


def _add(left: Any, right: Any) -> Any:
    if isinstance(left, str) and isinstance(right, str):
        return left + right
    return _arith("+")(left, right)


def _divide(left: Any, right: Any) -> float:
    if not (is_number(left) and is_number(right)):
        raise _invalid("/", left, right)
    if right == 0:  # Go float division: no error, +Inf/-Inf/NaN
        if left == 0 or (isinstance(left, float) and math.isnan(left)):
            return math.nan
        return math.copysign(math.inf, left) * (math.copysign(1.0, right))
    return left / right


def _modulo(left: Any, right: Any) -> Any:
    if not (is_number(left) and is_number(right)):
        raise _invalid("%", left, right)
    if isinstance(left, int) and isinstance(right, int):
        if right == 0:
            raise Problem("integer divide by zero")
        remainder = abs(left) % abs(right)  # Go truncates: the sign follows the dividend
        return -remainder if left < 0 else remainder
    if right == 0:
        raise Problem("float modulo by zero")
    return math.fmod(left, right)


def _power(left: Any, right: Any) -> float:
    if not (is_number(left) and is_number(right)):
        raise _invalid("**", left, right)
    try:
        return math.pow(left, right)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def _compare(op: str):
    checks = {
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }[op]

    def apply(left: Any, right: Any) -> bool:
        if (is_number(left) and is_number(right)) or (
            isinstance(left, str) and isinstance(right, str)
        ):
            return checks(left, right)
        raise _invalid(op, left, right)

    return apply


def _in(left: Any, right: Any) -> bool:
    if right is None:
        return False
    if isinstance(right, list | tuple):
        return any(deep_equal(left, item) for item in right)
    if isinstance(right, Mapping):
        try:
            return left in right
        except TypeError:
            return False
    raise Problem(f'operator "in" not defined on {go_type(right)}')


def _strings(op: str, func):
    def apply(left: Any, right: Any) -> bool:
        if not (isinstance(left, str) and isinstance(right, str)):
            raise _invalid(op, left, right)
        return func(left, right)

    return apply


def _matches(text: str, pattern: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error as exc:
        raise Problem(f"invalid regular expression {pattern!r}: {exc}")


def _range(left: Any, right: Any) -> list[int]:
    if not (isinstance(left, int) and isinstance(right, int)) or isinstance(left, bool):
        raise _invalid("..", left, right)
    return list(range(left, right + 1))


_BINARY = {
    "+": _add,
    "-": _arith("-"),
    "*": _arith("*"),
    "/": _divide,
    "%": _modulo,
    "**": _power,
    "^": _power,
    "..": _range,
    "==": deep_equal,
    "!=": lambda a, b: not deep_equal(a, b),
    "<": _compare("<"),
    ">": _compare(">"),
    "<=": _compare("<="),
    ">=": _compare(">="),
    "in": _in,
    "matches": _strings("matches", _matches),
    "contains": _strings("contains", lambda a, b: b in a),
    "startsWith": _strings("startsWith", lambda a, b: a.startswith(b)),
    "endsWith": _strings("endsWith", lambda a, b: a.endswith(b)),
}

"""Precedence-climbing parser for the expr-lang subset, mirroring expr's own parser.

Precedences follow expr's operator table: ``|`` 0, ``or ||`` 10, ``and &&`` 15,
comparisons/``in``/``matches``/``contains``/``startsWith``/``endsWith`` 20, ``..`` 25,
``+ -`` 30, ``* / %`` 60, ``** ^`` 100 (right associative), ``??`` 500; unary ``not !`` 50,
unary ``- +`` 90; the ternary ``c ? a : b`` is lowest. Chained comparisons
(``1 < x < 3``) mean ``1 < x && x < 3`` as in expr 1.17.
"""

from __future__ import annotations

from functools import lru_cache

from . import nodes as n
from .errors import Problem
from .lexer import Token, tokenize

BINARY = {
    "|": (0, "left"),
    "or": (10, "left"),
    "||": (10, "left"),
    "and": (15, "left"),
    "&&": (15, "left"),
    "==": (20, "left"),
    "!=": (20, "left"),
    "<": (20, "left"),
    ">": (20, "left"),
    ">=": (20, "left"),
    "<=": (20, "left"),
    "in": (20, "left"),
    "matches": (20, "left"),
    "contains": (20, "left"),
    "startsWith": (20, "left"),
    "endsWith": (20, "left"),
    "..": (25, "left"),
    "+": (30, "left"),
    "-": (30, "left"),
    "*": (60, "left"),
    "/": (60, "left"),
    "%": (60, "left"),
    "**": (100, "right"),
    "^": (100, "right"),
    "??": (500, "left"),
}
UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
NEGATABLE = frozenset({"contains", "matches", "startsWith", "endsWith", "in"})
# Builtins whose second argument is a predicate (closure); optional predicates marked.
PREDICATES = frozenset(
    {"all", "none", "any", "one", "filter", "map", "count", "sum", "find", "findIndex"}
    | {"findLast", "findLastIndex", "groupBy", "sortBy", "reduce"}
)
OPTIONAL_PREDICATE = frozenset({"count", "sum"})


def _is_comparison(op: str) -> bool:
    return op in BINARY and BINARY[op][0] == 20


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.index = 0
        self.depth = 0  # predicate nesting: "#" and ".field" are only valid inside

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def is_(self, kind: str, value: str | None = None) -> bool:
        tok = self.current
        return tok.kind == kind and (value is None or tok.value == value)

    def advance(self) -> Token:
        tok = self.current
        if tok.kind != "eof":
            self.index += 1
        return tok

    def fail(self, message: str, token: Token | None = None) -> Problem:
        tok = token or self.current
        return Problem(message, tok.pos)

    def unexpected(self) -> Problem:
        tok = self.current
        if tok.kind == "eof":
            return self.fail("unexpected end of expression")
        return self.fail(f"unexpected token {tok.describe()}")

    def expect(self, kind: str, value: str, closing: str = "") -> Token:
        if not self.is_(kind, value):
            wanted = f"{value!r} or {closing!r}" if closing else repr(value)
            if self.current.kind == "eof":
                raise self.fail(f"unexpected end of expression (expected {wanted})")
            raise self.fail(f"unexpected token {self.current.describe()} (expected {wanted})")
        return self.advance()

    # expressions ---------------------------------------------------------------------------
    def parse(self) -> object:
        node = self.expression(0)
        if not self.is_("eof"):
            raise self.unexpected()
        return node

    def expression(self, precedence: int) -> object:
        if precedence == 0 and self.is_("op", "let"):
            return self.let()
        left = self.primary()
        previous = ""
        while self.current.kind == "op":
            tok = self.current
            negate = False
            if tok.value == "not":
                follow = self.tokens[self.index + 1]
                if follow.kind == "op" and follow.value in NEGATABLE:
                    if BINARY[follow.value][0] < precedence:
                        break
                    self.advance()
                    tok, negate = follow, True
                else:
                    raise self.fail(f"unexpected token {follow.describe()}", follow)
            if tok.value not in BINARY or BINARY[tok.value][0] < precedence:
                break
            prec, assoc = BINARY[tok.value]
            self.advance()
            if tok.value == "|":
                name = self.current
                if name.kind != "ident":
                    raise self.unexpected()
                self.advance()
                left = self.call(name, [left])
            elif previous == "??" and tok.value != "??":
                raise self.fail(
                    f"operator ({tok.value}) and coalesce expressions (??) cannot be mixed; "
                    "wrap either in parentheses",
                    tok,
                )
            elif _is_comparison(tok.value):
                left = self.comparison(left, tok, prec)
            else:
                right = self.expression(prec + 1 if assoc == "left" else prec)
                left = n.Binary(tok.value, left, right, tok.pos)
            if negate:
                left = n.Unary("not", left, tok.pos)
            previous = tok.value
        if precedence == 0:
            left = self.conditional(left)
        return left

    def comparison(self, left: object, tok: Token, precedence: int) -> object:
        root = None
        while True:
            right = self.expression(precedence + 1)
            node = n.Binary(tok.value, left, right, tok.pos)
            root = node if root is None else n.Binary("&&", root, node, tok.pos)
            left = right
            tok = self.current
            if not (tok.kind == "op" and _is_comparison(tok.value)):
                return root
            self.advance()

    def conditional(self, node: object) -> object:
        while self.is_("op", "?"):
            tok = self.advance()
            if self.is_("op", ":"):
                self.advance()
                then, otherwise = node, self.expression(0)
            else:
                then = self.expression(0)
                self.expect("op", ":")
                otherwise = self.expression(0)
            node = n.Conditional(node, then, otherwise, tok.pos)
        return node

    def let(self) -> object:
        start = self.advance()
        name = self.current
        if name.kind != "ident":
            raise self.unexpected()
        self.advance()
        self.expect("op", "=")
        value = self.expression(0)
        self.expect("op", ";")
        return n.Let(name.value, value, self.expression(0), start.pos)

    def primary(self) -> object:
        tok = self.current
        if tok.kind == "op" and tok.value in UNARY:
            self.advance()
            operand = self.expression(UNARY[tok.value])
            return self.postfix(n.Unary(tok.value, operand, tok.pos))
        if tok.kind == "bracket" and tok.value == "(":
            self.advance()
            inner = self.expression(0)
            self.expect("bracket", ")")
            return self.postfix(inner)
        if tok.kind == "op" and tok.value in ("#", "."):
            if self.depth == 0:
                raise self.fail("cannot use pointer accessor outside predicate")
            name = ""
            if tok.value == "#":
                self.advance()
                if self.current.kind == "ident":
                    name = self.advance().value
            return self.postfix(n.Pointer(name, tok.pos))
        return self.secondary()

    def secondary(self) -> object:
        tok = self.current
        if tok.kind == "ident":
            self.advance()
            if tok.value in ("true", "false"):
                return n.Literal(tok.value == "true", tok.pos)
            if tok.value == "nil":
                return n.Literal(None, tok.pos)
            if self.is_("bracket", "("):
                return self.postfix(self.call(tok, []))
            return self.postfix(n.Identifier(tok.value, tok.pos))
        if tok.kind == "number":
            self.advance()
            return self.postfix(n.Literal(_number(tok), tok.pos))
        if tok.kind == "string":
            self.advance()
            return self.postfix(n.Literal(tok.value, tok.pos))
        if tok.kind == "bracket" and tok.value == "[":
            return self.postfix(self.array())
        if tok.kind == "bracket" and tok.value == "{":
            return self.postfix(self.map())
        raise self.unexpected()

    def call(self, name: Token, args: list) -> object:
        self.expect("bracket", "(")
        offset = len(args)  # a pipe ("x | f()") supplies the first argument
        if name.value in PREDICATES:
            if not offset:
                args.append(self.expression(0))
            if self.is_("bracket", ")") and name.value in OPTIONAL_PREDICATE:
                self.advance()
                return n.Call(n.Identifier(name.value, name.pos), tuple(args), name.pos)
            if not offset:
                self.expect("op", ",")
            if self.is_("bracket", ")"):
                raise self.fail(f"{name.value}() expects an array and a predicate")
            args.append(self.predicate())
            if self.is_("op", ",") and not self.tokens[self.index + 1].value == ")":
                self.advance()
                args.append(self.expression(0))
        else:
            while not self.is_("bracket", ")"):
                if len(args) > offset:
                    self.expect("op", ",", ")")
                    if self.is_("bracket", ")"):
                        break
                args.append(self.expression(0))
        if self.is_("op", ","):
            self.advance()
        self.expect("bracket", ")")
        return n.Call(n.Identifier(name.value, name.pos), tuple(args), name.pos)

    def predicate(self) -> object:
        start = self.current
        braced = self.is_("bracket", "{")
        if braced:
            self.advance()
        self.depth += 1
        try:
            body = self.expression(0)
        finally:
            self.depth -= 1
        if braced:
            self.expect("bracket", "}")
        return n.Predicate(body, start.pos)

    def arguments(self) -> tuple:
        self.expect("bracket", "(")
        args: list = []
        while not self.is_("bracket", ")"):
            if args:
                self.expect("op", ",", ")")
                if self.is_("bracket", ")"):
                    break
            args.append(self.expression(0))
        self.expect("bracket", ")")
        return tuple(args)

    def array(self) -> object:
        start = self.advance()
        items: list = []
        while not self.is_("bracket", "]"):
            if items:
                self.expect("op", ",", "]")
                if self.is_("bracket", "]"):
                    break
            items.append(self.expression(0))
        self.expect("bracket", "]")
        return n.ArrayLit(tuple(items), start.pos)

    def map(self) -> object:
        start = self.advance()
        pairs: list = []
        while not self.is_("bracket", "}"):
            if pairs:
                self.expect("op", ",", "}")
                if self.is_("bracket", "}"):
                    break
            tok = self.current
            if tok.kind in ("number", "string", "ident") or (
                tok.kind == "op" and tok.value.isalpha()
            ):
                self.advance()
                key: object = n.Literal(tok.value, tok.pos)
            elif tok.kind == "bracket" and tok.value == "(":
                key = self.expression(0)
            else:
                raise self.fail(
                    "a map key must be a quoted string, a number, an identifier, or an "
                    f"expression in parentheses (unexpected token {tok.describe()})"
                )
            self.expect("op", ":")
            pairs.append((key, self.expression(0)))
        self.expect("bracket", "}")
        return n.MapLit(tuple(pairs), start.pos)

    def postfix(self, node: object) -> object:
        while True:
            tok = self.current
            if tok.kind == "op" and tok.value in (".", "?."):
                optional = tok.value == "?."
                self.advance()
                if optional and self.is_("bracket", "["):
                    node = self.index_or_slice(node, optional=True)
                    continue
                prop = self.current
                if prop.kind != "ident" and not (prop.kind == "op" and prop.value.isalpha()):
                    raise self.fail("expected a name after '.'", prop)
                self.advance()
                member = n.Member(node, n.Literal(prop.value, prop.pos), optional, prop.pos)
                if self.is_("bracket", "("):
                    node = n.Call(member, self.arguments(), prop.pos)
                else:
                    node = member
            elif tok.kind == "bracket" and tok.value == "[":
                node = self.index_or_slice(node, optional=False)
            else:
                return node

    def index_or_slice(self, node: object, optional: bool) -> object:
        start = self.expect("bracket", "[")
        if self.is_("op", ":"):
            self.advance()
            stop = None if self.is_("bracket", "]") else self.expression(0)
            self.expect("bracket", "]")
            return n.Slice(node, None, stop, start.pos)
        first = self.expression(0)
        if self.is_("op", ":"):
            self.advance()
            stop = None if self.is_("bracket", "]") else self.expression(0)
            self.expect("bracket", "]")
            return n.Slice(node, first, stop, start.pos)
        self.expect("bracket", "]")
        return n.Member(node, first, optional, start.pos)


def _number(tok: Token) -> int | float:
    text = tok.value.replace("_", "")
    lower = text.lower()
    try:
        if lower.startswith(("0x", "0b", "0o")):
            return int(text, 0)
        if "." in lower or "e" in lower:
            return float(text)
        return int(text, 10)
    except ValueError:
        raise Problem(f"invalid number literal {tok.value!r}", tok.pos)


@lru_cache(maxsize=4096)
def parse(source: str) -> object:
    """Parse one expression (no braces) into an AST; cached by text."""
    if not source.strip():
        raise Problem("empty expression")
    return _Parser(source).parse()

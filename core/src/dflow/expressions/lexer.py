"""Tokenizer for the expr-lang subset (github.com/expr-lang/expr) used in ``{{=...}}``."""

from __future__ import annotations

from typing import NamedTuple

from .errors import Problem

# Word operators are lexed as identifiers first, then re-tagged.
WORD_OPERATORS = frozenset(
    {"not", "and", "or", "in", "matches", "contains", "startsWith", "endsWith", "let"}
)
# Longest first so that "**" wins over "*", "??" over "?", and so on.
SYMBOLS = (
    "?.",
    "??",
    "..",
    "**",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "::",
    "!",
    "?",
    ".",
    "#",
    ",",
    ":",
    ";",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "<",
    ">",
    "|",
    "=",
)
BRACKETS = "()[]{}"
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "a": "\a",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "0": "\0",
}


class Token(NamedTuple):
    kind: str  # "ident", "number", "string", "op", "bracket", "eof"
    value: str
    pos: int

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of expression"
        return repr(self.value) if self.kind != "string" else f"string {self.value!r}"


def _is_ident_start(char: str) -> bool:
    return char.isalpha() or char in "_$"


def _read_string(source: str, start: int) -> tuple[str, int]:
    quote = source[start]
    out: list[str] = []
    i = start + 1
    while i < len(source):
        char = source[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\" and quote != "`":
            i += 1
            if i >= len(source):
                break
            esc = source[i]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                i += 1
            elif esc in "uxU":
                width = {"u": 4, "x": 2, "U": 8}[esc]
                code = source[i + 1 : i + 1 + width]
                try:
                    out.append(chr(int(code, 16)))
                except ValueError:
                    raise Problem(f"invalid escape \\{esc}{code} in string", i - 1)
                i += 1 + width
            else:
                raise Problem(f"invalid escape \\{esc} in string", i - 1)
            continue
        out.append(char)
        i += 1
    raise Problem("unterminated string literal", start)


def _read_number(source: str, start: int) -> int:
    i = start
    n = len(source)
    if source.startswith(("0x", "0X", "0b", "0B", "0o", "0O"), i):
        i += 2
        while i < n and (source[i].isalnum() or source[i] == "_"):
            i += 1
        return i
    while i < n and (source[i].isdigit() or source[i] == "_"):
        i += 1
    # A dot starts a fraction only when not followed by another dot (range "1..3").
    if i < n and source[i] == "." and not source.startswith("..", i):
        i += 1
        while i < n and (source[i].isdigit() or source[i] == "_"):
            i += 1
    if i < n and source[i] in "eE":
        j = i + 1
        if j < n and source[j] in "+-":
            j += 1
        if j < n and source[j].isdigit():
            i = j
            while i < n and source[i].isdigit():
                i += 1
    return i


def tokenize(source: str) -> list[Token]:
    """Split an expression into tokens; raises Problem with the offset of a bad character."""
    tokens: list[Token] = []
    i = 0
    n = len(source)
    while i < n:
        char = source[i]
        if char.isspace():
            i += 1
            continue
        if source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        if source.startswith("/*", i):
            end = source.find("*/", i + 2)
            if end < 0:
                raise Problem("unclosed comment", i)
            i = end + 2
            continue
        if char.isdigit() or (char == "." and i + 1 < n and source[i + 1].isdigit()):
            end = _read_number(source, i)
            tokens.append(Token("number", source[i:end], i))
            i = end
            continue
        if _is_ident_start(char):
            end = i + 1
            while end < n and (source[end].isalnum() or source[end] == "_"):
                end += 1
            word = source[i:end]
            kind = "op" if word in WORD_OPERATORS else "ident"
            tokens.append(Token(kind, word, i))
            i = end
            continue
        if char in "'\"`":
            value, end = _read_string(source, i)
            tokens.append(Token("string", value, i))
            i = end
            continue
        if char in BRACKETS:
            tokens.append(Token("bracket", char, i))
            i += 1
            continue
        for symbol in SYMBOLS:
            if source.startswith(symbol, i):
                if symbol == "?." and i + 2 < n and source[i + 2].isdigit():
                    continue  # "c ?.5 : 1" is a ternary, not optional chaining
                tokens.append(Token("op", symbol, i))
                i += len(symbol)
                break
        else:
            raise Problem(f"unrecognized character {char!r}", i)
    tokens.append(Token("eof", "", n))
    return tokens

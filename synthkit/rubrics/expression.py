"""Selection expressions, with pytest's `-k` rules.

`and`, `or`, `not` and parentheses combine words; a word matches when it is a case-insensitive
substring of any of a rubric's keywords (its id, class name, criterion names, module name and
marks). `not` binds tighter than `and`, which binds tighter than `or`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

__all__ = ["ExpressionError", "compile_expression"]

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([\w:+\-.\[\]\\/]+))")
_KEYWORDS = {"and", "or", "not"}

Matcher = Callable[[Iterable[str]], bool]


class ExpressionError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            column = position + len(text[position:]) - len(text[position:].lstrip()) + 1
            raise ExpressionError(f"unexpected character {text[column - 1]!r} at column {column}")
        kind = "(" if match.group(1) else ")" if match.group(2) else "word"
        value = match.group(match.lastindex)
        if kind == "word" and value in _KEYWORDS:
            kind = value
        tokens.append((kind, value, match.start(match.lastindex) + 1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index][0] if self.index < len(self.tokens) else None

    def take(self, kind: str) -> tuple[str, str, int]:
        if self.peek() != kind:
            where = (f"at column {self.tokens[self.index][2]}" if self.index < len(self.tokens)
                     else "at the end")
            found = self.tokens[self.index][1] if self.index < len(self.tokens) else "nothing"
            raise ExpressionError(f"expected {kind}, found {found!r} {where}")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Matcher:
        matcher = self.or_expr()
        if self.peek() is not None:
            kind, value, column = self.tokens[self.index]
            raise ExpressionError(f"unexpected {value!r} at column {column}")
        return matcher

    def or_expr(self) -> Matcher:
        left = self.and_expr()
        while self.peek() == "or":
            self.take("or")
            left = (lambda a, b: lambda kw: a(kw) or b(kw))(left, self.and_expr())
        return left

    def and_expr(self) -> Matcher:
        left = self.not_expr()
        while self.peek() == "and":
            self.take("and")
            left = (lambda a, b: lambda kw: a(kw) and b(kw))(left, self.not_expr())
        return left

    def not_expr(self) -> Matcher:
        if self.peek() == "not":
            self.take("not")
            inner = self.not_expr()
            return lambda kw: not inner(kw)
        if self.peek() == "(":
            self.take("(")
            inner = self.or_expr()
            self.take(")")
            return inner
        word = self.take("word")[1].lower()
        return lambda kw: any(word in k.lower() for k in kw)


def compile_expression(text: str) -> Matcher:
    """A matcher over a rubric's keywords; an empty expression matches everything."""
    if not text.strip():
        return lambda keywords: True
    return _Parser(text).parse()

"""lme4-style model formulas: a small tokenizer and a recursive-descent parser.

The parser never evaluates the text (no ``eval``, ``exec`` or Python ``ast``): a formula read
from a file cannot run code. It reads what ``lme4::lmer`` reads, minus what jaxmice does not
model::

    y ~ 1 + x + f + x:f + x*z + log(z) + I(x^2) + (1 + x | school) + (1 | g1/g2)

Operators, binding tightest first (as in R): ``^`` (inside ``I()`` only), unary ``-``/``+``,
``:``, ``*`` and ``/``, binary ``+`` and ``-``, then ``|`` and ``||`` (inside parentheses
only), then ``~``. The fixed part follows R's ``terms()``: ``a*b`` is ``a + b + a:b``,
``a/b`` is ``a + a:b``, ``- x`` removes a term, ``0``/``-1`` remove the intercept, duplicates
go, and terms are ordered by interaction order (stable otherwise), the variables inside an
interaction in the order they first appear in the formula. Random terms follow lme4 1.1-31's
``findbars``: ``(x || g)`` becomes ``(1 | g) + (0 + x | g)``, ``(1 | g1/g2)`` becomes
``(1 | g2:g1) + (1 | g1)`` (lme4's order and labels), and ``||`` is expanded before ``/``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "TRANSFORMS",
    "FUNCTIONS",
    "FormulaError",
    "Expr",
    "Var",
    "Num",
    "Call",
    "Identity",
    "BinOp",
    "Neg",
    "Term",
    "TermList",
    "RandomTerm",
    "Formula",
    "parse_formula",
    "format_number",
    "quote_name",
]

TRANSFORMS: tuple[str, ...] = ("log", "exp", "sqrt", "log10", "abs", "scale")
"""Functions allowed on a column (besides ``I()``), each applied elementwise."""

FUNCTIONS: tuple[str, ...] = ("I",) + TRANSFORMS
"""Every function name a formula may call."""

_RESERVED = frozenset(
    "if else repeat while function for in next break TRUE FALSE NULL Inf NaN NA NA_integer_ "
    "NA_real_ NA_character_ NA_complex_".split()
)
_SYNTACTIC = re.compile(r"^(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*$")


class FormulaError(ValueError):
    """A formula that cannot be parsed.

    Attributes:
        reason: what is wrong, without the formula.
        text: the formula.
        position: 0-based index of the offending character in ``text``.
    """

    def __init__(self, reason: str, text: str, position: int):
        self.reason = reason
        self.text = text
        self.position = position
        super().__init__(_error_message(reason, text, position))

    def __reduce__(self) -> tuple:
        return (type(self), (self.reason, self.text, self.position))


def _error_message(reason: str, text: str, position: int) -> str:
    """``reason`` plus the formula's line with a caret under ``position``."""
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    line = text[start:] if end < 0 else text[start:end]
    column = position - start
    where = f"column {column + 1}"
    if "\n" in text:
        where = f"line {text.count(chr(10), 0, position) + 1}, {where}"
    return f"{reason} at {where} in formula:\n  {line}\n  {' ' * column}^"


# --------------------------------------------------------------------------------------------
# Labels (R's deparse)


def quote_name(name: str) -> str:
    """A column name as R deparses it: backquoted unless it is a syntactic R name."""
    if _SYNTACTIC.match(name) and name not in _RESERVED:
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def format_number(value: float) -> str:
    """A number as R prints it with 15 significant digits (``2``, ``0.5``, ``1e+05``).

    Fixed notation unless scientific notation is shorter, as R's ``deparse``/``as.character``.
    """
    value = float(value)
    if not math.isfinite(value):
        return {math.inf: "Inf", -math.inf: "-Inf"}.get(value, "NaN")
    if value.is_integer() and abs(value) < 1e5:  # cluster labels: fixed is never longer
        return str(int(value))
    digits = next(d for d in range(1, 16) if float(f"{value:.{d - 1}e}") == value
                  or d == 15)
    exponent = math.floor(math.log10(abs(float(f"{value:.{digits - 1}e}"))))
    fixed = f"{value:.{max(0, digits - 1 - exponent)}f}"
    sci = f"{value:.{digits - 1}e}"
    return sci if len(sci) < len(fixed) else fixed


# --------------------------------------------------------------------------------------------
# Expressions: a column, a number, a transform or arithmetic inside I()

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4, "atom": 5}
_SPACED = frozenset("+-*")


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


class Expr:
    """Base of the expression nodes; each has ``label`` (R's deparse) and ``variables()``."""

    _prec: int = _PREC["atom"]

    @property
    def label(self) -> str:  # pragma: no cover - every node overrides it
        raise NotImplementedError

    def variables(self) -> tuple[str, ...]:  # pragma: no cover - every node overrides it
        """Column names used, in order of first appearance."""
        raise NotImplementedError


@dataclass(frozen=True)
class Var(Expr):
    """A column of the data."""

    name: str

    @property
    def label(self) -> str:
        return quote_name(self.name)

    def variables(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Num(Expr):
    """A non-negative number literal (a negative one is ``Neg(Num(..))``)."""

    value: float

    @property
    def label(self) -> str:
        return format_number(self.value)

    def variables(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class Call(Expr):
    """A transform of an expression, ``fn`` one of :data:`TRANSFORMS`."""

    fn: str
    arg: Expr

    def __post_init__(self) -> None:
        if self.fn not in TRANSFORMS:
            raise ValueError(f"unknown function {self.fn!r}; allowed: {', '.join(TRANSFORMS)}")

    @property
    def label(self) -> str:
        return f"{self.fn}({self.arg.label})"

    def variables(self) -> tuple[str, ...]:
        return self.arg.variables()


@dataclass(frozen=True)
class Identity(Expr):
    """``I(expr)``: arithmetic taken literally, not as formula operators."""

    expr: Expr

    @property
    def label(self) -> str:
        return f"I({self.expr.label})"

    def variables(self) -> tuple[str, ...]:
        return self.expr.variables()


@dataclass(frozen=True)
class BinOp(Expr):
    """Arithmetic ``left op right``, ``op`` one of ``+ - * / ^``."""

    op: str
    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        if self.op not in ("+", "-", "*", "/", "^"):
            raise ValueError(f"unknown operator {self.op!r}")

    @property
    def _prec(self) -> int:
        return _PREC[self.op]

    @property
    def label(self) -> str:
        prec = self._prec
        left, right = self.left.label, self.right.label
        if self.left._prec < prec or (self.op == "^" and self.left._prec == prec):
            left = f"({left})"
        right_low = self.right._prec < prec or (self.op != "^" and self.right._prec == prec)
        if right_low and not isinstance(self.right, Neg):
            right = f"({right})"
        return f"{left} {self.op} {right}" if self.op in _SPACED else f"{left}{self.op}{right}"

    def variables(self) -> tuple[str, ...]:
        return _unique(self.left.variables() + self.right.variables())


@dataclass(frozen=True)
class Neg(Expr):
    """Unary minus."""

    expr: Expr
    _prec = _PREC["neg"]

    @property
    def label(self) -> str:
        inner = self.expr.label
        return f"-({inner})" if self.expr._prec < self._prec else f"-{inner}"

    def variables(self) -> tuple[str, ...]:
        return self.expr.variables()


# --------------------------------------------------------------------------------------------
# Terms


@dataclass(frozen=True)
class Term:
    """One model term: the interaction of its factors (a main effect has one factor)."""

    factors: tuple[Expr, ...]

    @property
    def label(self) -> str:
        """R's term label, e.g. ``x``, ``x:f``, ``log(z):f``."""
        return ":".join(f.label for f in self.factors)

    @property
    def order(self) -> int:
        """Interaction order (number of factors)."""
        return len(self.factors)

    def variables(self) -> tuple[str, ...]:
        """Column names used, in order of first appearance."""
        return _unique(v for f in self.factors for v in f.variables())


@dataclass(frozen=True)
class TermList:
    """The terms of a model part: an intercept flag and terms in R's order."""

    intercept: bool
    terms: tuple[Term, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        """Term labels, as R's ``attr(terms(f), "term.labels")``."""
        return tuple(t.label for t in self.terms)

    @property
    def label(self) -> str:
        """The part as lme4 deparses an expanded random term's left side: ``1 + x``, ``0 + x``."""
        return " + ".join(("1" if self.intercept else "0",) + self.labels)

    def variables(self) -> tuple[str, ...]:
        """Column names used, in order of first appearance."""
        return _unique(v for t in self.terms for v in t.variables())


@dataclass(frozen=True)
class RandomTerm:
    """One random-effect term ``(terms | group)`` after ``||`` and ``/`` expansion.

    Attributes:
        terms: the left side (random intercept and slopes).
        group: grouping column(s); more than one means their interaction, in lme4's order
            (``(1 | g1/g2)`` gives ``("g2", "g1")`` for its inner term).
        group_text: lme4's label for the group when it is not the names joined by ``:``
            (nested terms: ``g3:(g2:g1)``); empty otherwise.
    """

    terms: TermList
    group: tuple[str, ...]
    group_text: str = ""

    @property
    def group_label(self) -> str:
        """The group's name as lme4 shows it (``names(getME(fit, "flist"))``), e.g. ``g2:g1``."""
        return self.group_text or ":".join(quote_name(g) for g in self.group)

    @property
    def label(self) -> str:
        """The term as lme4's ``findbars`` deparses it, e.g. ``0 + x | g``."""
        return f"{self.terms.label} | {self.group_label}"

    def variables(self) -> tuple[str, ...]:
        """Column names used: the left side's, then the grouping columns."""
        return _unique(self.terms.variables() + self.group)


@dataclass(frozen=True)
class Formula:
    """A parsed model formula ``response ~ fixed + (random | group)``."""

    text: str
    response: Expr
    fixed: TermList
    random: tuple[RandomTerm, ...] = ()

    def variables(self) -> tuple[str, ...]:
        """Every column the model uses: the response's first, then fixed, then random."""
        parts = (self.response.variables(), self.fixed.variables())
        return _unique(v for p in parts + tuple(r.variables() for r in self.random) for v in p)


# --------------------------------------------------------------------------------------------
# Tokenizer

_OPERATORS = ("||", "~", "+", "-", "*", "/", ":", "^", "|", "(", ")", ",")
_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*")


@dataclass(frozen=True)
class _Token:
    kind: str  # "name", "number", "op" or "end"
    text: str  # the name (unquoted), the number as written, or the operator
    pos: int
    quoted: bool = False


def _tokenize(text: str) -> list[_Token]:
    """Split a formula into tokens; the last one is ``end``.

    Raises:
        FormulaError: a character that no token starts with, or an unclosed backquote.
    """
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise FormulaError("unclosed backquote", text, i)
            if end == i + 1:
                raise FormulaError("empty backquoted name", text, i)
            tokens.append(_Token("name", text[i + 1:end], i, quoted=True))
            i = end + 1
        elif m := _NUMBER.match(text, i):
            tokens.append(_Token("number", m.group(), i))
            i = m.end()
        elif m := _NAME.match(text, i):
            tokens.append(_Token("name", m.group(), i))
            i = m.end()
        elif op := next((o for o in _OPERATORS if text.startswith(o, i)), None):
            tokens.append(_Token("op", op, i))
            i += len(op)
        else:
            raise FormulaError(f"unexpected character {ch!r}", text, i)
    tokens.append(_Token("end", "", len(text)))
    return tokens


# --------------------------------------------------------------------------------------------
# Syntax tree (before any formula meaning is given to the operators)


@dataclass(frozen=True)
class _Name:
    name: str
    pos: int


@dataclass(frozen=True)
class _Number:
    value: float
    text: str
    pos: int


@dataclass(frozen=True)
class _Call:
    fn: str
    arg: _Node
    pos: int


@dataclass(frozen=True)
class _Binary:
    op: str
    left: _Node
    right: _Node
    pos: int


@dataclass(frozen=True)
class _Unary:
    op: str
    operand: _Node
    pos: int


@dataclass(frozen=True)
class _Paren:
    inner: _Node
    pos: int


_Node = _Name | _Number | _Call | _Binary | _Unary | _Paren


def _describe(tok: _Token) -> str:
    if tok.kind == "end":
        return "end of formula"
    if tok.kind == "name":
        return f"name {tok.text!r}"
    if tok.kind == "number":
        return f"number {tok.text}"
    return repr(tok.text)


class _Parser:
    """Recursive descent over the token list; one method per precedence level."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, *ops: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text in ops

    def fail(self, reason: str, pos: int) -> FormulaError:
        return FormulaError(reason, self.text, pos)

    def unexpected(self, tok: _Token) -> FormulaError:
        return self.fail(f"unexpected {_describe(tok)}", tok.pos)

    def formula(self) -> tuple[_Node, _Node]:
        if self.at("~"):
            raise self.fail("missing response before '~' (expected 'response ~ terms')",
                            self.peek().pos)
        if self.peek().kind == "end":
            raise self.fail("empty formula (expected 'response ~ terms')", 0)
        lhs = self.bar()
        if self.peek().kind == "end":
            raise self.fail("missing '~' (expected 'response ~ terms')",
                            len(self.text.rstrip()))
        if not self.at("~"):
            raise self.unexpected(self.peek())
        self.advance()
        rhs = self.bar()
        if self.peek().kind != "end":
            raise self.unexpected(self.peek())
        return lhs, rhs

    def _binary_level(self, ops: tuple[str, ...], operand: Callable[[], _Node]) -> _Node:
        node = operand()
        while self.at(*ops):
            tok = self.advance()
            node = _Binary(tok.text, node, operand(), tok.pos)
        return node

    def bar(self) -> _Node:
        return self._binary_level(("|", "||"), self.sum)

    def sum(self) -> _Node:
        return self._binary_level(("+", "-"), self.product)

    def product(self) -> _Node:
        return self._binary_level(("*", "/"), self.colon)

    def colon(self) -> _Node:
        return self._binary_level((":",), self.unary)

    def unary(self) -> _Node:
        if self.at("-", "+"):
            tok = self.advance()
            return _Unary(tok.text, self.unary(), tok.pos)
        return self.power()

    def power(self) -> _Node:
        base = self.primary()
        if self.at("^"):
            tok = self.advance()
            return _Binary("^", base, self.unary(), tok.pos)  # right-associative
        return base

    def primary(self) -> _Node:
        tok = self.peek()
        if tok.kind == "name":
            self.advance()
            if self.at("(") and not tok.quoted:
                return self.call(tok)
            return _Name(tok.text, tok.pos)
        if tok.kind == "number":
            self.advance()
            return _Number(float(tok.text), tok.text, tok.pos)
        if self.at("("):
            self.advance()
            if self.at(")"):
                raise self.fail("empty term: nothing inside the parentheses", tok.pos)
            inner = self.bar()
            self.close(tok)
            return _Paren(inner, tok.pos)
        if tok.kind == "end":
            before = self.tokens[self.i - 1] if self.i else tok
            raise self.fail(f"empty term after {before.text!r}", before.pos)
        raise self.unexpected(tok)

    def call(self, name: _Token) -> _Node:
        if name.text not in FUNCTIONS:
            raise self.fail(
                f"unknown function {name.text!r}; allowed functions are "
                + ", ".join(f"{f}()" for f in FUNCTIONS), name.pos)
        paren = self.advance()
        if self.at(")"):
            raise self.fail(f"empty term: {name.text}() needs an argument", paren.pos)
        arg = self.bar()
        if self.at(","):
            raise self.fail(f"{name.text}() takes exactly one argument", self.peek().pos)
        self.close(paren)
        return _Call(name.text, arg, name.pos)

    def close(self, opening: _Token) -> None:
        if self.at(")"):
            self.advance()
        elif self.peek().kind == "end":
            raise self.fail("unclosed parenthesis", opening.pos)
        else:
            raise self.unexpected(self.peek())


# --------------------------------------------------------------------------------------------
# Meaning: arithmetic expressions


def _expr(node: _Node, text: str, where: str) -> Expr:
    """Arithmetic meaning of a node (inside ``I()`` or a transform's argument)."""
    if isinstance(node, _Name):
        return Var(node.name)
    if isinstance(node, _Number):
        return Num(node.value)
    if isinstance(node, _Paren):
        return _expr(node.inner, text, where)
    if isinstance(node, _Unary):
        inner = _expr(node.operand, text, where)
        return Neg(inner) if node.op == "-" else inner
    if isinstance(node, _Call):
        inner = _expr(node.arg, text, f"{node.fn}()")
        return Identity(inner) if node.fn == "I" else Call(node.fn, inner)
    if node.op in ("+", "-", "*", "/", "^"):
        return BinOp(node.op, _expr(node.left, text, where), _expr(node.right, text, where))
    raise FormulaError(f"operator {node.op!r} is not allowed inside {where}", text, node.pos)


def _check_calls(node: _Node, functions: Sequence[str], text: str) -> None:
    """Refuse a call of a function outside ``functions``, at its position."""
    if isinstance(node, _Call):
        if node.fn not in functions:
            raise FormulaError(f"{node.fn}() is not allowed here", text, node.pos)
        _check_calls(node.arg, functions, text)
    elif isinstance(node, _Binary):
        _check_calls(node.left, functions, text)
        _check_calls(node.right, functions, text)
    elif isinstance(node, (_Unary, _Paren)):
        _check_calls(node.operand if isinstance(node, _Unary) else node.inner, functions, text)


def parse_expression(text: str, functions: Sequence[str] = FUNCTIONS) -> Expr:
    """One arithmetic expression in R's syntax, read by the formulas' parser: columns
    (dotted and backquoted names as in a formula), numbers, ``+ - * / ^``, parentheses and
    calls of ``functions``. Passive imputation's ``"~ I(wt.kg / ht.m^2)"`` uses it.

    Raises:
        FormulaError: a syntax error, another operator, or another function.
    """
    parser = _Parser(text)
    if parser.peek().kind == "end":
        raise FormulaError("empty expression", text, 0)
    node = parser.sum()
    if parser.peek().kind != "end":
        raise parser.unexpected(parser.peek())
    _check_calls(node, functions, text)
    return _expr(node, text, "an expression")


def _variable(node: _Node, text: str) -> Expr:
    """A single model variable: a column, a transform, or ``I(...)``."""
    if isinstance(node, _Name):
        return Var(node.name)
    if isinstance(node, _Call):
        return _expr(node, text, f"{node.fn}()")
    if isinstance(node, _Paren):
        return _variable(node.inner, text)
    what = "number" if isinstance(node, _Number) else f"operator {getattr(node, 'op', '?')!r}"
    raise FormulaError(
        f"unexpected {what}: the response must be a column or a transform of one", text,
        node.pos)


# --------------------------------------------------------------------------------------------
# Meaning: R's term algebra (stats:::terms.formula / model.c EncodeVars)


def _trim(terms: Iterable[frozenset[int]]) -> list[frozenset[int]]:
    """Drop repeats (keeping the first) and empty terms."""
    return [t for t in dict.fromkeys(terms) if t]


def _is_bar(node: _Node) -> bool:
    while isinstance(node, _Paren):
        node = node.inner
    return isinstance(node, _Binary) and node.op in ("|", "||")


class _Encoder:
    """Turns a right-hand side into terms, as R's ``EncodeVars``.

    Terms are sets of variable indices into ``variables`` (registered in order of first
    appearance); the intercept is a flag that ``1``/``0`` set as they are met, flipped
    inside the right operand of ``-`` (R's parity rule). Random terms ``(a | g)`` are
    collected when they are summands of the top-level ``+`` chain.
    """

    def __init__(self, text: str, allow_random: bool):
        self.text = text
        self.allow_random = allow_random
        self.variables: list[Expr] = []
        self.intercept = True
        self.parity = True
        self.random: list[RandomTerm] = []

    def fail(self, reason: str, pos: int) -> FormulaError:
        return FormulaError(reason, self.text, pos)

    def install(self, var: Expr) -> int:
        if var not in self.variables:
            self.variables.append(var)
        return self.variables.index(var)

    def encode(self, node: _Node, top: bool = False) -> list[frozenset[int]]:
        if isinstance(node, _Number):
            if node.value not in (0.0, 1.0):
                raise self.fail(f"unexpected number {node.text}: only 0 and 1 (the intercept) "
                                "are allowed as terms; use I() for arithmetic", node.pos)
            self.intercept = (node.value == 1.0) == self.parity
            return []
        if isinstance(node, (_Name, _Call)):
            return [frozenset((self.install(_variable(node, self.text)),))]
        if isinstance(node, _Paren):
            if _is_bar(node):
                if not (top and self.allow_random):
                    raise self.fail(
                        "a random-effect term (... | group) must stand on its own, added to "
                        "the fixed terms with '+'", node.pos)
                self.random.extend(_random_terms(node, self.text))
                return []
            return self.encode(node.inner)
        if isinstance(node, _Unary):
            if node.op == "+":
                return self.encode(node.operand, top)
            return self.delete([], node.operand)
        return self.binary(node, top)

    def binary(self, node: _Binary, top: bool) -> list[frozenset[int]]:
        op = node.op
        if op in ("|", "||"):
            raise self.fail(f"{op!r} outside parentheses: write random terms as "
                            "(terms | group)", node.pos)
        if op == "^":
            raise self.fail("'^' is only allowed inside I(), e.g. I(x^2)", node.pos)
        if op == "-":
            return self.delete(self.encode(node.left, top), node.right)
        left = self.encode(node.left, top and op == "+")
        right = self.encode(node.right, top and op == "+")
        if op == "+":
            return _trim(left + right)
        crossed = [a | b for a in left for b in right]
        if op == ":":
            return _trim(crossed)
        if op == "*":
            return _trim(left + right + crossed)
        if op == "/":
            outer = frozenset().union(*left)
            return _trim(left + [outer | b for b in right])
        raise self.fail(f"unexpected operator {op!r}", node.pos)  # pragma: no cover

    def delete(self, left: list[frozenset[int]], node: _Node) -> list[frozenset[int]]:
        self.parity = not self.parity
        right = self.encode(node)
        self.parity = not self.parity
        return [t for t in left if t not in right]

    def term_list(self, terms: list[frozenset[int]]) -> TermList:
        """R's order: by interaction order, stable; factors by order of first appearance."""
        ordered = sorted(terms, key=len)  # sorted() is stable
        return TermList(self.intercept, tuple(
            Term(tuple(self.variables[i] for i in sorted(t))) for t in ordered))


def _encode_terms(node: _Node, text: str) -> TermList:
    """The terms of a random term's left side (a fresh variable order, as lme4)."""
    enc = _Encoder(text, allow_random=False)
    return enc.term_list(enc.encode(node))


# --------------------------------------------------------------------------------------------
# Meaning: random terms (lme4 1.1-31 findbars: expandDoubleVerts, then expandSlash)


@dataclass(frozen=True)
class _Group:
    names: tuple[str, ...]
    text: str


def _groups(node: _Node, text: str) -> list[_Group]:
    """Grouping factors of a ``|`` right side, in lme4's order (``g1/g2`` → g2:g1, g1)."""
    if isinstance(node, _Name):
        return [_Group((node.name,), quote_name(node.name))]
    if isinstance(node, _Paren):
        return _groups(node.inner, text)
    if isinstance(node, _Binary) and node.op == ":":
        left, right = _single_group(node.left, text), _single_group(node.right, text)
        return [_Group(left.names + right.names, f"{left.text}:{right.text}")]
    if isinstance(node, _Binary) and node.op == "/":
        outer = _groups(node.left, text)
        inner = _single_group(node.right, text)
        first = outer[0]
        wrapped = first.text if len(first.names) == 1 else f"({first.text})"
        return [_Group(inner.names + first.names, f"{inner.text}:{wrapped}"), *outer]
    raise FormulaError("a grouping factor must be a column, an interaction g1:g2 or a nesting "
                       "g1/g2", text, node.pos)


def _single_group(node: _Node, text: str) -> _Group:
    groups = _groups(node, text)
    if len(groups) != 1:
        raise FormulaError("write nested grouping as g1/g2/g3 (nesting on the right of ':' or "
                           "'/' is not supported)", text, node.pos)
    return groups[0]


def _random_terms(node: _Node, text: str) -> list[RandomTerm]:
    """Expand one ``(lhs | g)`` or ``(lhs || g)``."""
    while isinstance(node, _Paren):
        node = node.inner
    assert isinstance(node, _Binary)
    inner = _find_bar(node.left) or _find_bar(node.right)
    if inner is not None:
        raise FormulaError("a random-effect term may hold only one '|' or '||'", text,
                           inner.pos)
    lhs = _encode_terms(node.left, text)
    groups = _groups(node.right, text)
    if node.op == "||":
        pieces = [TermList(True)] if lhs.intercept else []
        pieces += [TermList(False, (t,)) for t in lhs.terms]
    else:
        pieces = [lhs]
    if not pieces or not (pieces[0].intercept or pieces[0].terms):
        raise FormulaError("empty random-effect term: no intercept and no slopes", text,
                           node.pos)
    for g in groups:
        if len(set(g.names)) != len(g.names):
            raise FormulaError(f"grouping factor {g.text!r} repeats a column", text, node.pos)
    return [RandomTerm(piece, g.names, g.text) for piece in pieces for g in groups]


def _find_bar(node: _Node) -> _Binary | None:
    """The first ``|`` or ``||`` inside a node, if any."""
    if isinstance(node, _Binary):
        if node.op in ("|", "||"):
            return node
        return _find_bar(node.left) or _find_bar(node.right)
    if isinstance(node, _Paren):
        return _find_bar(node.inner)
    if isinstance(node, _Unary):
        return _find_bar(node.operand)
    if isinstance(node, _Call):
        return _find_bar(node.arg)
    return None


# --------------------------------------------------------------------------------------------


def parse_formula(text: str) -> Formula:
    """Parse an lme4-style model formula.

    Args:
        text: e.g. ``"y ~ x * f + log(z) + (1 + x | school)"``.

    Returns:
        The parsed formula.

    Raises:
        FormulaError: a syntax error, an unknown function, a missing response, ``|`` outside
            parentheses, ...; the message shows the formula with a caret under the offending
            character, whose 0-based index is ``.position``.
    """
    if not isinstance(text, str):
        raise TypeError(f"a formula must be a string, got {type(text).__name__}")
    lhs, rhs = _Parser(text).formula()
    response = _variable(lhs, text)
    enc = _Encoder(text, allow_random=True)
    enc.install(response)  # R counts the response as the first variable
    fixed = enc.term_list(enc.encode(rhs, top=True))
    return Formula(text=text, response=response, fixed=fixed, random=tuple(enc.random))

"""R's arithmetic, read once: the tokenizer, the syntax tree and the one parser of jaxmice.

Model formulas (:mod:`jaxmice._src.analysis.formula`) and passive imputation
(:mod:`jaxmice.passive`) both read their text here, so the same names work in both:
R's syntactic names (``wt.kg``), backquoted ones (```my var```), numbers, ``+ - * / ^``,
parentheses and the calls of :data:`FUNCTIONS`. The parser never evaluates the text (no
``eval``, ``exec`` or Python ``ast``): a formula read from a file cannot run code.
:mod:`jaxmice._src.core.evaluate` gives an :class:`Expr` its values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "TRANSFORMS", "FUNCTIONS", "FormulaError", "Expr", "Var", "Num", "Call", "Identity", "BinOp",
    "Neg", "parse_expression", "format_number", "quote_name",
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


def unique(items: Iterable[str]) -> tuple[str, ...]:
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
        return unique(self.left.variables() + self.right.variables())


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
class NameNode:
    name: str
    pos: int


@dataclass(frozen=True)
class NumberNode:
    value: float
    text: str
    pos: int


@dataclass(frozen=True)
class CallNode:
    fn: str
    arg: Node
    pos: int


@dataclass(frozen=True)
class BinaryNode:
    op: str
    left: Node
    right: Node
    pos: int


@dataclass(frozen=True)
class UnaryNode:
    op: str
    operand: Node
    pos: int


@dataclass(frozen=True)
class ParenNode:
    inner: Node
    pos: int


Node = NameNode | NumberNode | CallNode | BinaryNode | UnaryNode | ParenNode


def _describe(tok: _Token) -> str:
    if tok.kind == "end":
        return "end of formula"
    if tok.kind == "name":
        return f"name {tok.text!r}"
    if tok.kind == "number":
        return f"number {tok.text}"
    return repr(tok.text)


class Parser:
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

    def formula(self) -> tuple[Node, Node]:
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

    def _binary_level(self, ops: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        node = operand()
        while self.at(*ops):
            tok = self.advance()
            node = BinaryNode(tok.text, node, operand(), tok.pos)
        return node

    def bar(self) -> Node:
        return self._binary_level(("|", "||"), self.sum)

    def sum(self) -> Node:
        return self._binary_level(("+", "-"), self.product)

    def product(self) -> Node:
        return self._binary_level(("*", "/"), self.colon)

    def colon(self) -> Node:
        return self._binary_level((":",), self.unary)

    def unary(self) -> Node:
        if self.at("-", "+"):
            tok = self.advance()
            return UnaryNode(tok.text, self.unary(), tok.pos)
        return self.power()

    def power(self) -> Node:
        base = self.primary()
        if self.at("^"):
            tok = self.advance()
            return BinaryNode("^", base, self.unary(), tok.pos)  # right-associative
        return base

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "name":
            self.advance()
            if self.at("(") and not tok.quoted:
                return self.call(tok)
            return NameNode(tok.text, tok.pos)
        if tok.kind == "number":
            self.advance()
            return NumberNode(float(tok.text), tok.text, tok.pos)
        if self.at("("):
            self.advance()
            if self.at(")"):
                raise self.fail("empty term: nothing inside the parentheses", tok.pos)
            inner = self.bar()
            self.close(tok)
            return ParenNode(inner, tok.pos)
        if tok.kind == "end":
            before = self.tokens[self.i - 1] if self.i else tok
            raise self.fail(f"empty term after {before.text!r}", before.pos)
        raise self.unexpected(tok)

    def call(self, name: _Token) -> Node:
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
        return CallNode(name.text, arg, name.pos)

    def close(self, opening: _Token) -> None:
        if self.at(")"):
            self.advance()
        elif self.peek().kind == "end":
            raise self.fail("unclosed parenthesis", opening.pos)
        else:
            raise self.unexpected(self.peek())


# --------------------------------------------------------------------------------------------
# Meaning: arithmetic expressions


def _expr(node: Node, text: str, where: str) -> Expr:
    """Arithmetic meaning of a node (inside ``I()`` or a transform's argument)."""
    if isinstance(node, NameNode):
        return Var(node.name)
    if isinstance(node, NumberNode):
        return Num(node.value)
    if isinstance(node, ParenNode):
        return _expr(node.inner, text, where)
    if isinstance(node, UnaryNode):
        inner = _expr(node.operand, text, where)
        return Neg(inner) if node.op == "-" else inner
    if isinstance(node, CallNode):
        inner = _expr(node.arg, text, f"{node.fn}()")
        return Identity(inner) if node.fn == "I" else Call(node.fn, inner)
    if node.op in ("+", "-", "*", "/", "^"):
        return BinOp(node.op, _expr(node.left, text, where), _expr(node.right, text, where))
    raise FormulaError(f"operator {node.op!r} is not allowed inside {where}", text, node.pos)


def _check_calls(node: Node, functions: Sequence[str], text: str) -> None:
    """Refuse a call of a function outside ``functions``, at its position."""
    if isinstance(node, CallNode):
        if node.fn not in functions:
            raise FormulaError(f"{node.fn}() is not allowed here", text, node.pos)
        _check_calls(node.arg, functions, text)
    elif isinstance(node, BinaryNode):
        _check_calls(node.left, functions, text)
        _check_calls(node.right, functions, text)
    elif isinstance(node, (UnaryNode, ParenNode)):
        _check_calls(node.operand if isinstance(node, UnaryNode) else node.inner, functions, text)


def parse_expression(text: str, functions: Sequence[str] = FUNCTIONS) -> Expr:
    """One arithmetic expression in R's syntax, read by the formulas' parser: columns
    (dotted and backquoted names as in a formula), numbers, ``+ - * / ^``, parentheses and
    calls of ``functions``. Passive imputation's ``"~ I(wt.kg / ht.m^2)"`` uses it.

    Raises:
        FormulaError: a syntax error, another operator, or another function.
    """
    parser = Parser(text)
    if parser.peek().kind == "end":
        raise FormulaError("empty expression", text, 0)
    node = parser.sum()
    if parser.peek().kind != "end":
        raise parser.unexpected(parser.peek())
    _check_calls(node, functions, text)
    return _expr(node, text, "an expression")


def variable(node: Node, text: str) -> Expr:
    """A single model variable: a column, a transform, or ``I(...)``."""
    if isinstance(node, NameNode):
        return Var(node.name)
    if isinstance(node, CallNode):
        return _expr(node, text, f"{node.fn}()")
    if isinstance(node, ParenNode):
        return variable(node.inner, text)
    what = "number" if isinstance(node, NumberNode) else f"operator {getattr(node, 'op', '?')!r}"
    raise FormulaError(
        f"unexpected {what}: the response must be a column or a transform of one", text,
        node.pos)



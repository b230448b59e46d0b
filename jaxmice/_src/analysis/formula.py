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

from collections.abc import Iterable
from dataclasses import dataclass

from jaxmice._src.core.expressions import (
    BinaryNode,
    CallNode,
    Expr,
    FormulaError,
    NameNode,
    Node,
    NumberNode,
    ParenNode,
    Parser,
    UnaryNode,
    quote_name,
    unique,
    variable,
)

__all__ = ["Term", "TermList", "RandomTerm", "Formula", "parse_formula"]

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
        return unique(v for f in self.factors for v in f.variables())


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
        return unique(v for t in self.terms for v in t.variables())


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
        return unique(self.terms.variables() + self.group)


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
        return unique(v for p in parts + tuple(r.variables() for r in self.random) for v in p)


# --------------------------------------------------------------------------------------------
# Meaning: R's term algebra (stats:::terms.formula / model.c EncodeVars)


def _trim(terms: Iterable[frozenset[int]]) -> list[frozenset[int]]:
    """Drop repeats (keeping the first) and empty terms."""
    return [t for t in dict.fromkeys(terms) if t]


def _is_bar(node: Node) -> bool:
    while isinstance(node, ParenNode):
        node = node.inner
    return isinstance(node, BinaryNode) and node.op in ("|", "||")


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

    def encode(self, node: Node, top: bool = False) -> list[frozenset[int]]:
        if isinstance(node, NumberNode):
            if node.value not in (0.0, 1.0):
                raise self.fail(f"unexpected number {node.text}: only 0 and 1 (the intercept) "
                                "are allowed as terms; use I() for arithmetic", node.pos)
            self.intercept = (node.value == 1.0) == self.parity
            return []
        if isinstance(node, (NameNode, CallNode)):
            return [frozenset((self.install(variable(node, self.text)),))]
        if isinstance(node, ParenNode):
            if _is_bar(node):
                if not (top and self.allow_random):
                    raise self.fail(
                        "a random-effect term (... | group) must stand on its own, added to "
                        "the fixed terms with '+'", node.pos)
                self.random.extend(_random_terms(node, self.text))
                return []
            return self.encode(node.inner)
        if isinstance(node, UnaryNode):
            if node.op == "+":
                return self.encode(node.operand, top)
            return self.delete([], node.operand)
        return self.binary(node, top)

    def binary(self, node: BinaryNode, top: bool) -> list[frozenset[int]]:
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

    def delete(self, left: list[frozenset[int]], node: Node) -> list[frozenset[int]]:
        self.parity = not self.parity
        right = self.encode(node)
        self.parity = not self.parity
        return [t for t in left if t not in right]

    def term_list(self, terms: list[frozenset[int]]) -> TermList:
        """R's order: by interaction order, stable; factors by order of first appearance."""
        ordered = sorted(terms, key=len)  # sorted() is stable
        return TermList(self.intercept, tuple(
            Term(tuple(self.variables[i] for i in sorted(t))) for t in ordered))


def _encode_terms(node: Node, text: str) -> TermList:
    """The terms of a random term's left side (a fresh variable order, as lme4)."""
    enc = _Encoder(text, allow_random=False)
    return enc.term_list(enc.encode(node))


# --------------------------------------------------------------------------------------------
# Meaning: random terms (lme4 1.1-31 findbars: expandDoubleVerts, then expandSlash)


@dataclass(frozen=True)
class _Group:
    names: tuple[str, ...]
    text: str


def _groups(node: Node, text: str) -> list[_Group]:
    """Grouping factors of a ``|`` right side, in lme4's order (``g1/g2`` → g2:g1, g1)."""
    if isinstance(node, NameNode):
        return [_Group((node.name,), quote_name(node.name))]
    if isinstance(node, ParenNode):
        return _groups(node.inner, text)
    if isinstance(node, BinaryNode) and node.op == ":":
        left, right = _single_group(node.left, text), _single_group(node.right, text)
        return [_Group(left.names + right.names, f"{left.text}:{right.text}")]
    if isinstance(node, BinaryNode) and node.op == "/":
        outer = _groups(node.left, text)
        inner = _single_group(node.right, text)
        first = outer[0]
        wrapped = first.text if len(first.names) == 1 else f"({first.text})"
        return [_Group(inner.names + first.names, f"{inner.text}:{wrapped}"), *outer]
    raise FormulaError("a grouping factor must be a column, an interaction g1:g2 or a nesting "
                       "g1/g2", text, node.pos)


def _single_group(node: Node, text: str) -> _Group:
    groups = _groups(node, text)
    if len(groups) != 1:
        raise FormulaError("write nested grouping as g1/g2/g3 (nesting on the right of ':' or "
                           "'/' is not supported)", text, node.pos)
    return groups[0]


def _random_terms(node: Node, text: str) -> list[RandomTerm]:
    """Expand one ``(lhs | g)`` or ``(lhs || g)``."""
    while isinstance(node, ParenNode):
        node = node.inner
    assert isinstance(node, BinaryNode)
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


def _find_bar(node: Node) -> BinaryNode | None:
    """The first ``|`` or ``||`` inside a node, if any."""
    if isinstance(node, BinaryNode):
        if node.op in ("|", "||"):
            return node
        return _find_bar(node.left) or _find_bar(node.right)
    if isinstance(node, ParenNode):
        return _find_bar(node.inner)
    if isinstance(node, UnaryNode):
        return _find_bar(node.operand)
    if isinstance(node, CallNode):
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
    lhs, rhs = Parser(text).formula()
    response = variable(lhs, text)
    enc = _Encoder(text, allow_random=True)
    enc.install(response)  # R counts the response as the first variable
    fixed = enc.term_list(enc.encode(rhs, top=True))
    return Formula(text=text, response=response, fixed=fixed, random=tuple(enc.random))

"""The lme4-style formula parser: terms as R's terms() orders them, lme4's random-term
expansion, labels as R deparses them, and syntax errors with a caret."""

from __future__ import annotations

import os

import pytest

from jaxmice._src.analysis.formula import Formula, RandomTerm, Term, TermList, parse_formula
from jaxmice._src.core.expressions import (
    BinOp,
    Call,
    FormulaError,
    Identity,
    Neg,
    Num,
    Var,
    format_number,
)

# (formula, intercept, term labels) -- checked against attr(terms(f), "term.labels") in R 4.2
FIXED = [
    ("y ~ 1 + x + f + x:f + x*z", True, ("x", "f", "z", "x:f", "x:z")),
    ("y ~ x*f", True, ("x", "f", "x:f")),
    ("y ~ f*x", True, ("f", "x", "f:x")),
    ("y ~ x:f + f", True, ("f", "x:f")),
    ("y ~ f + x + x:f", True, ("f", "x", "f:x")),  # variables in order of first appearance
    ("y ~ a/b", True, ("a", "a:b")),
    ("y ~ (a + b)/c", True, ("a", "b", "a:b:c")),
    ("y ~ a/(b + c)", True, ("a", "a:b", "a:c")),
    ("y ~ (a + b):(c + d)", True, ("a:c", "a:d", "b:c", "b:d")),
    ("y ~ a*b*c - a:b", True, ("a", "b", "c", "a:c", "b:c", "a:b:c")),
    ("y ~ x + + z", True, ("x", "z")),
    ("y ~ -x + z", True, ("z",)),
    ("y ~ x - z + z", True, ("x", "z")),
    ("y ~ x + x + x:f + f:x", True, ("x", "x:f")),
    ("y ~ 0 + x", False, ("x",)),
    ("y ~ x + 0", False, ("x",)),
    ("y ~ x - 1", False, ("x",)),
    ("y ~ -1 + x", False, ("x",)),
    ("y ~ x - 1 + 1", True, ("x",)),
    ("y ~ 0 + x + 1", True, ("x",)),
    ("y ~ x - 0", True, ("x",)),
    ("y ~ 1", True, ()),
    ("y ~ 0", False, ()),
    ("y ~ x*z - x", True, ("z", "x:z")),
    ("y ~ log(z):f + f", True, ("f", "log(z):f")),
]


@pytest.mark.parametrize(("text", "intercept", "labels"), FIXED)
def test_fixed_terms_as_r_orders_them(text, intercept, labels):
    f = parse_formula(text)
    assert f.fixed.intercept is intercept
    assert f.fixed.labels == labels
    assert f.random == ()


def test_interaction_order_sorts_terms_stably():
    f = parse_formula("y ~ a:b:c + d:e + g + a:b + h")
    assert f.fixed.labels == ("g", "h", "d:e", "a:b", "a:b:c")
    assert [t.order for t in f.fixed.terms] == [1, 1, 2, 2, 3]


# Labels as R deparses them (checked with attr(terms(f), "term.labels"))
LABELS = [
    ("I(x^2)", "I(x^2)"),
    ("I(x ^ 2)", "I(x^2)"),
    ("I(-x^2)", "I(-x^2)"),
    ("I((x+1)^2)", "I((x + 1)^2)"),
    ("I(x*2)", "I(x * 2)"),
    ("I(x+1)", "I(x + 1)"),
    ("I(x - (y - z))", "I(x - (y - z))"),
    ("I((-x)^2)", "I((-x)^2)"),
    ("I(x^-1)", "I(x^-1)"),
    ("I(2^3^4)", "I(2^3^4)"),
    ("I((2^3)^4)", "I((2^3)^4)"),
    ("I(x/2/3)", "I(x/2/3)"),
    ("I(x/(2/3))", "I(x/(2/3))"),
    ("log(x + 1)", "log(x + 1)"),
    ("I(1e10)", "I(1e+10)"),
    ("I(0.001 * x)", "I(0.001 * x)"),
    ("I(1e-5 + x)", "I(1e-05 + x)"),
    ("I(-(x+1))", "I(-(x + 1))"),
    ("I(- -x)", "I(--x)"),
    ("scale(x)", "scale(x)"),
    ("log10(abs(x))", "log10(abs(x))"),
    ("sqrt(exp(x))", "sqrt(exp(x))"),
    ("`my var`", "`my var`"),
    ("motor_score.2", "motor_score.2"),
    (".x", ".x"),
]


@pytest.mark.parametrize(("term", "label"), LABELS)
def test_expression_labels_as_r_deparses_them(term, label):
    f = parse_formula(f"y ~ {term}")
    assert f.fixed.labels == (label,)


def test_expression_nodes():
    f = parse_formula("log(y) ~ I((x + 1)^2) + log(z) + I(-x / 2)")
    assert f.response == Call("log", Var("y"))
    sq, lg, neg = f.fixed.terms
    assert sq == Term((Identity(BinOp("^", BinOp("+", Var("x"), Num(1.0)), Num(2.0))),))
    assert lg == Term((Call("log", Var("z")),))
    assert neg == Term((Identity(BinOp("/", Neg(Var("x")), Num(2.0))),))
    assert sq.factors[0].variables() == ("x",)
    assert Identity(BinOp("*", Var("a"), Var("b"))).variables() == ("a", "b")
    assert f.response.label == "log(y)"
    assert f.variables() == ("y", "x", "z")


def test_backquoted_and_dotted_names():
    f = parse_formula("`my y` ~ `my var` * motor_score.2 + (1 | `my g`)")
    assert f.response == Var("my y")
    assert f.fixed.labels == ("`my var`", "motor_score.2", "`my var`:motor_score.2")
    assert f.variables() == ("my y", "my var", "motor_score.2", "my g")
    assert f.random[0].group == ("my g",)
    assert f.random[0].group_label == "`my g`"


def random_labels(text: str) -> list[str]:
    return [r.label for r in parse_formula(text).random]


# lme4 1.1-31's findbars(), deparsed
RANDOM = [
    ("y ~ x + (1 | g)", ["1 | g"]),
    ("y ~ x + (1 + x | g)", ["1 + x | g"]),
    ("y ~ x + (x | g)", ["1 + x | g"]),  # intercept implied
    ("y ~ x + (0 + x | g)", ["0 + x | g"]),
    ("y ~ x + (-1 + x | g)", ["0 + x | g"]),
    ("y ~ (1 | g1) + (1 | g2)", ["1 | g1", "1 | g2"]),
    ("y ~ x + (1 + x || g)", ["1 | g", "0 + x | g"]),
    ("y ~ x + (x || g)", ["1 | g", "0 + x | g"]),
    ("y ~ x + (0 + x || g)", ["0 + x | g"]),
    ("y ~ (x*z || g1:g2)", ["1 | g1:g2", "0 + x | g1:g2", "0 + z | g1:g2",
                            "0 + x:z | g1:g2"]),
    ("y ~ x + (1 | g1/g2)", ["1 | g2:g1", "1 | g1"]),
    ("y ~ (1 | g1/g2/g3)", ["1 | g3:(g2:g1)", "1 | g2:g1", "1 | g1"]),
    ("y ~ (x || g1/g2)", ["1 | g2:g1", "1 | g1", "0 + x | g2:g1", "0 + x | g1"]),
    ("y ~ (1 | g1:g2)", ["1 | g1:g2"]),
    ("y ~ x + ((1 | g))", ["1 | g"]),
    ("y ~ (f || g)", ["1 | g", "0 + f | g"]),
]


@pytest.mark.parametrize(("text", "labels"), RANDOM)
def test_random_terms_as_lme4_expands_them(text, labels):
    assert random_labels(text) == labels


def test_random_term_structure():
    f = parse_formula("y ~ x + (1 + x || school) + (1 | g1/g2)")
    assert f.fixed == TermList(True, (Term((Var("x"),)),))
    assert f.random == (
        RandomTerm(TermList(True, ()), ("school",), "school"),
        RandomTerm(TermList(False, (Term((Var("x"),)),)), ("school",), "school"),
        RandomTerm(TermList(True, ()), ("g2", "g1"), "g2:g1"),
        RandomTerm(TermList(True, ()), ("g1",), "g1"),
    )
    assert [r.group_label for r in f.random] == ["school", "school", "g2:g1", "g1"]
    assert f.variables() == ("y", "x", "school", "g2", "g1")


def test_group_labels():
    # names(getME(fit, "flist")) and as.data.frame(VarCorr(fit))$grp in lme4 1.1-31
    three = parse_formula("y ~ (1 | g1/g2/g3)").random
    assert [r.group for r in three] == [("g3", "g2", "g1"), ("g2", "g1"), ("g1",)]
    assert [r.group_label for r in three] == ["g3:(g2:g1)", "g2:g1", "g1"]
    inter = parse_formula("y ~ (1 | g1:g2)").random[0]
    assert inter.group == ("g1", "g2") and inter.group_label == "g1:g2"
    # the term-level default label joins the names
    assert RandomTerm(TermList(True), ("a", "b")).group_label == "a:b"


def test_random_lhs_terms():
    (r,) = parse_formula("y ~ (1 + f*x | g)").random
    assert r.terms.intercept and r.terms.labels == ("f", "x", "f:x")
    (r,) = parse_formula("y ~ (0 + f | g)").random
    assert not r.terms.intercept and r.terms.labels == ("f",)


def test_formulas_are_hashable_values():
    a, b = parse_formula("y ~ x * f + (1 | g)"), parse_formula("y ~ x * f + (1 | g)")
    assert a == b and hash(a) == hash(b)
    assert isinstance(a, Formula)
    assert len({a.fixed.terms[0], b.fixed.terms[0]}) == 1


def test_format_number_as_r():
    assert [format_number(v) for v in (2, 0.5, 1e5, 1e10, 0.001, 1e-5, 123456, 1 / 3)] == [
        "2", "0.5", "1e+05", "1e+10", "0.001", "1e-05", "123456", "0.333333333333333"]


# (formula, 0-based position, part of the message)
ERRORS = [
    ("y ~ x + )", 8, "unexpected ')'"),
    ("y ~ x + (1 | g", 8, "unclosed parenthesis"),
    ("y ~ log(x", 7, "unclosed parenthesis"),
    ("y ~ x + ", 6, "empty term after '+'"),
    ("y ~ ", 2, "empty term after '~'"),
    ("y ~ x + ()", 8, "empty term"),
    ("y ~ x | g", 6, "'|' outside parentheses"),
    ("y ~ x + 1 || g", 10, "'||' outside parentheses"),
    ("y ~ (1 | g) | h", 12, "'|' outside parentheses"),
    ("y ~ x $ z", 6, "unexpected character '$'"),
    ("y ~ x + 'z'", 8, "unexpected character \"'\""),
    ("y + x", 5, "missing '~'"),
    ("~ x", 0, "missing response"),
    ("", 0, "empty formula"),
    ("y ~ poly(x, 2)", 4, "unknown function 'poly'"),
    ("y ~ x + 2", 8, "unexpected number 2"),
    ("y ~ x^2", 5, "'^' is only allowed inside I()"),
    ("y ~ x:(1 | g)", 6, "random-effect term"),
    ("y ~ log(x, 2)", 9, "takes exactly one argument"),
    ("y ~ x + (0 | g)", 11, "empty random-effect term"),
    ("y ~ x ~ z", 6, "unexpected '~'"),
    ("y ~ `x + z", 4, "unclosed backquote"),
    ("y ~ I(x:z)", 7, "':' is not allowed inside I()"),
    ("y ~ x + (1 | g + h)", 15, "grouping factor must be"),
    ("y ~ x z", 6, "unexpected name 'z'"),
    ("y ~ (1 | (g | h))", 12, "only one '|'"),
    ("y | g ~ x", 2, "response must be"),
]


@pytest.mark.parametrize(("text", "position", "reason"), ERRORS)
def test_syntax_errors_point_at_the_token(text, position, reason):
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.position == position
    assert reason in err.reason
    lines = str(err).splitlines()
    assert lines[1] == "  " + text
    assert lines[2] == "  " + " " * position + "^"


def test_error_message_layout():
    with pytest.raises(FormulaError) as info:
        parse_formula("y ~ x + )")
    assert str(info.value) == "unexpected ')' at column 9 in formula:\n  y ~ x + )\n          ^"


def test_unknown_function_lists_the_allowed_ones():
    with pytest.raises(FormulaError, match=r"allowed functions are I\(\), log\(\), exp\(\), "
                       r"sqrt\(\), log10\(\), abs\(\), scale\(\)"):
        parse_formula("y ~ ns(x)")


def test_multiline_formula_error_shows_the_line():
    with pytest.raises(FormulaError) as info:
        parse_formula("y ~ x +\n  z + )")
    assert info.value.position == 14
    assert str(info.value).splitlines() == [
        "unexpected ')' at line 2, column 7 in formula:", "    z + )", "        ^"]


@pytest.mark.parametrize("text", [
    "y ~ __import__('os').system('touch /tmp/jaxmice_pwned')",
    "y ~ eval(x)",
    "y ~ I(__import__('os'))",
    "y ~ x + exec('1')",
    "y ~ (lambda: 1)()",
])
def test_code_in_a_formula_is_never_run(text, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the parser ran code")

    monkeypatch.setattr(os, "system", refuse)
    with pytest.raises(FormulaError):
        parse_formula(text)
    assert not os.path.exists("/tmp/jaxmice_pwned")


def test_not_a_string():
    with pytest.raises(TypeError):
        parse_formula(3)  # type: ignore[arg-type]

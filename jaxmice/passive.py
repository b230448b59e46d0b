"""Passive imputation: a column defined as a pure function of other columns.

``method={"BMI": "~ I(Weight / Height^2)"}`` (mice's syntax) or
``method={"BMI": jm.passive(lambda d: d["Weight"] / d["Height"] ** 2)}``. The expression is
parsed (by Python's ``ast``, which only reads) into the formula's expression tree and
evaluated by :mod:`jaxmice.expressions`, never as Python, so a string read from a file
cannot run code. Allowed: column names, numbers, ``+ - * / ^ **``, parentheses, ``I()``,
``log exp sqrt abs log10``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

from .expressions import JAX, evaluate
from .models.formula import BinOp, Call, Expr, Identity, Neg, Num, Var

_FUNCTIONS = ("I", "log", "exp", "sqrt", "abs", "log10")
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "^"}


@dataclass(frozen=True, eq=False)
class Passive:
    """A passive column: ``fn(columns) -> f[n]`` with ``columns`` mapping names to ``f[n]``.

    Attributes:
        fn: the pure function.
        inputs: the column names it reads (``None``: unknown, i.e. a user callable).
        source: the expression, for messages.
    """

    fn: Callable[[Mapping[Hashable, jax.Array]], jax.Array]
    inputs: tuple | None = None
    source: str = "<function>"

    def _identity(self) -> object:
        # parsed expressions are equal when their text is, so a loop that re-specifies the
        # same model reuses the compiled program; user functions compare by identity
        return self.source if self.inputs is not None else self.fn

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Passive) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())


def passive(fn: Callable[[Mapping[Hashable, jax.Array]], jax.Array] | str) -> Passive:
    """Declare a passive column from a function of the other columns or a ``"~ expr"`` string.

    Args:
        fn: ``lambda d: d["Weight"] / d["Height"] ** 2`` (must be a pure JAX function), or an
            expression string like ``"~ I(Weight / Height^2)"``.

    Returns:
        The :class:`Passive` to put in ``method``.
    """
    if isinstance(fn, Passive):
        return fn
    if isinstance(fn, str):
        return parse_passive(fn)
    if not callable(fn):
        raise TypeError(f"passive expects a function or an expression string, got {fn!r}")
    return Passive(fn=fn)


def parse_passive(text: str) -> Passive:
    """Parse ``"~ expr"`` into a :class:`Passive`.

    Raises:
        ValueError: the expression uses anything but the allowed arithmetic.
    """
    expr = text.strip()
    if expr.startswith("~"):
        expr = expr[1:]
    try:
        tree = ast.parse(expr.strip().replace("^", "**"), mode="eval").body
    except SyntaxError as err:
        raise ValueError(f"passive expression {text!r}: syntax error at column {err.offset}")\
            from None
    names: list[str] = []

    def build(node: ast.AST) -> Expr:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return Num(float(node.value))
        if isinstance(node, ast.Name):
            names.append(node.id)
            return Var(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return BinOp(_OPERATORS[type(node.op)], build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return Neg(build(node.operand))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
            return build(node.operand)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCTIONS and len(node.args) == 1 and not node.keywords):
            inner = build(node.args[0])
            return Identity(inner) if node.func.id == "I" else Call(node.func.id, inner)
        shown = ast.unparse(node) if hasattr(ast, "unparse") else type(node).__name__
        raise ValueError(
            f"passive expression {text!r}: {shown!r} is not allowed (use column names, numbers, "
            f"+ - * / ^ and {', '.join(sorted(_FUNCTIONS))})"
        )

    return Passive(fn=partial(_evaluate, build(tree)), inputs=tuple(dict.fromkeys(names)),
                   source=text.strip())


def _evaluate(tree: Expr, columns: Mapping[Hashable, jax.Array]) -> jax.Array:
    """The passive column ``f[n]`` of a parsed expression, from ``columns`` (name -> f[n])."""
    return evaluate(tree, columns.__getitem__, JAX)


@dataclass(frozen=True)
class squeeze:  # noqa: N801  (used like mice's function of the same name)
    """A ``post`` step that clips imputations into ``[lower, upper]`` (mice's ``squeeze``).

    A frozen dataclass rather than a closure, so equal bounds give an equal compiled plan.
    """

    lower: float = -float("inf")
    upper: float = float("inf")

    def __call__(self, values: jax.Array) -> jax.Array:
        return jnp.clip(values, self.lower, self.upper)

"""Passive imputation: a column defined as a pure function of other columns.

``method={"BMI": "~ I(Weight / Height^2)"}`` (mice's syntax) or
``method={"BMI": jm.passive(lambda d: d["Weight"] / d["Height"] ** 2)}``. The expression is
parsed into a small arithmetic tree, never evaluated as Python, so a string read from a file
cannot run code. Allowed: column names, numbers, ``+ - * / ^ **``, parentheses, ``I()``,
``log exp sqrt abs log10``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp

_FUNCTIONS: dict[str, Callable] = {
    "log": jnp.log, "exp": jnp.exp, "sqrt": jnp.sqrt, "abs": jnp.abs, "log10": jnp.log10,
    "I": lambda v: v,
}
_BINARY = {
    ast.Add: jnp.add, ast.Sub: jnp.subtract, ast.Mult: jnp.multiply, ast.Div: jnp.divide,
    ast.Pow: jnp.power,
}


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

    def build(node: ast.AST) -> Callable:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            value = float(node.value)
            return lambda d: value
        if isinstance(node, ast.Name):
            names.append(node.id)
            return lambda d: d[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            op, left, right = _BINARY[type(node.op)], build(node.left), build(node.right)
            return lambda d: op(left(d), right(d))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = build(node.operand)
            sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
            return lambda d: sign * inner(d)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCTIONS and len(node.args) == 1 and not node.keywords):
            func, inner = _FUNCTIONS[node.func.id], build(node.args[0])
            return lambda d: func(inner(d))
        shown = ast.unparse(node) if hasattr(ast, "unparse") else type(node).__name__
        raise ValueError(
            f"passive expression {text!r}: {shown!r} is not allowed (use column names, numbers, "
            f"+ - * / ^ and {', '.join(sorted(_FUNCTIONS))})"
        )

    fn = build(tree)
    return Passive(fn=fn, inputs=tuple(dict.fromkeys(names)), source=text.strip())


@dataclass(frozen=True)
class squeeze:  # noqa: N801  (used like mice's function of the same name)
    """A ``post`` step that clips imputations into ``[lower, upper]`` (mice's ``squeeze``).

    A frozen dataclass rather than a closure, so equal bounds give an equal compiled plan.
    """

    lower: float = -float("inf")
    upper: float = float("inf")

    def __call__(self, values: jax.Array) -> jax.Array:
        return jnp.clip(values, self.lower, self.upper)

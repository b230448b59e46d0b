"""Passive imputation: a column defined as a pure function of other columns.

``method={"BMI": "~ I(Weight / Height^2)"}`` (mice's syntax) or
``method={"BMI": jm.passive(lambda d: d["Weight"] / d["Height"] ** 2)}``. The expression is
read by the formulas' parser (:func:`jaxmice._src.analysis.formula.parse_expression`: R's names,
dotted or backquoted, as in a formula) and evaluated by :mod:`jaxmice._src.core.evaluate`, never as
Python, so a string read from a file cannot run code. Allowed: column names, numbers,
``+ - * / ^``, parentheses, ``I()``, ``log exp sqrt abs log10``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

from jaxmice._src.core.evaluate import JAX, evaluate
from jaxmice._src.core.expressions import Expr, FormulaError, parse_expression

#: functions a passive expression may call (elementwise: no ``scale()``, which needs the
#: whole column's mean and SD)
_FUNCTIONS = ("I", "log", "exp", "sqrt", "abs", "log10")


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
        tree = parse_expression(expr, _FUNCTIONS)
    except FormulaError as err:
        raise ValueError(
            f"passive expression {text!r}: {err.reason} (allowed: column names, numbers, "
            f"+ - * / ^, parentheses and {', '.join(f + '()' for f in _FUNCTIONS)})\n"
            + str(err).split("\n", 1)[1]) from None
    return Passive(fn=partial(_evaluate, tree), inputs=tree.variables(), source=text.strip())


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

"""One evaluator of R's arithmetic expressions, with a numpy and a jax.numpy backend.

The expression is the tree of :mod:`jaxmice._src.analysis.formula` (``Var``, ``Num``, ``Neg``,
``Call``, ``Identity``, ``BinOp``), built by a parser that never runs the text as Python. Two
readers share this evaluator: model frames (``log(x)``, ``I(x^2)`` in a formula; numpy, with
their own checks wrapped around the operations) and passive imputation (``~ I(Weight /
Height^2)``; jax.numpy, inside the compiled sampler).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxmice._src.core.expressions import BinOp, Call, Expr, Identity, Neg, Num, Var


@dataclass(frozen=True)
class Backend:
    """The array operations an expression is evaluated with.

    Attributes:
        binary: ``+ - * / ^`` -> the elementwise operation of two arrays.
        functions: function name (``I`` and the transforms) -> the elementwise operation.
        negate: unary minus.
    """

    binary: Mapping[str, Callable[[Any, Any], Any]]
    functions: Mapping[str, Callable[[Any], Any]]
    negate: Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _backend(xp: Any) -> Backend:
    """The backend of an array namespace (``numpy`` or ``jax.numpy``)."""
    return Backend(
        binary={"+": xp.add, "-": xp.subtract, "*": xp.multiply, "/": xp.divide,
                "^": xp.power},
        functions={"I": _identity, "log": xp.log, "exp": xp.exp, "sqrt": xp.sqrt,
                   "log10": xp.log10, "abs": xp.abs},
        negate=xp.negative,
    )


NUMPY = _backend(np)
"""numpy operations (model frames)."""

JAX = _backend(jnp)
"""jax.numpy operations (passive imputation, traced inside the sampler)."""


def evaluate(expr: Expr, variable: Callable[[str], Any], backend: Backend, *,
             number: Callable[[float], Any] = float,
             operand: Callable[[Expr, Any], Any] = lambda expr, value: value) -> Any:
    """Evaluate an expression tree.

    Args:
        expr: the tree.
        variable: a column's name -> its values (f[n], or whatever the backend takes).
        backend: the operations (:data:`NUMPY`, :data:`JAX` or a wrapped one).
        number: a literal -> its value (default: the Python float).
        operand: called on each argument of ``I()``, a transform, unary minus or an operator,
            with the argument's tree, before the operation (where a reader checks or unwraps
            it).

    Returns:
        The value: ``variable``'s result for a bare column, else the backend's.
    """
    def arg(node: Expr) -> Any:
        return operand(node, evaluate(node, variable, backend, number=number, operand=operand))

    if isinstance(expr, Var):
        return variable(expr.name)
    if isinstance(expr, Num):
        return number(expr.value)
    if isinstance(expr, Identity):
        return backend.functions["I"](arg(expr.expr))
    if isinstance(expr, Neg):
        return backend.negate(arg(expr.expr))
    if isinstance(expr, Call):
        return backend.functions[expr.fn](arg(expr.arg))
    if isinstance(expr, BinOp):
        left = arg(expr.left)
        return backend.binary[expr.op](left, arg(expr.right))
    raise TypeError(f"unknown expression {expr!r}")

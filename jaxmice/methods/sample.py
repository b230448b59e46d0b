"""``sample``: random draws from the observed values of the variable (ignores predictors)."""

from __future__ import annotations

import jax

from jaxmice._src.numerics.random import random_observed_rows
from jaxmice.methods.base import Draw, Imputer, MethodInfo, Target, VisitInputs


def make(target: Target) -> Imputer:
    """Bind ``sample`` to a target of any kind."""

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        rows = random_observed_rows(key, inputs.ry, inputs.y.shape)
        return Draw(values=inputs.y[rows], state=state, ok=inputs.ry.any())

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    unused_levels=True,
    name="sample", kinds=frozenset({"continuous", "binary", "nominal", "ordinal", "count"}),
    make=make,
    description="random draw from the observed values",
)

"""``toy.median``: the median of the observed values, plus an optional ``shift`` (a toy
built-in method: its file, its line in ``_BUILTIN`` and its test file)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmice.methods.base import Draw, Imputer, MethodInfo, Target, VisitInputs


def make(target: Target, *, shift: float = 0.0) -> Imputer:
    """Bind ``toy.median`` to a continuous target; option ``shift`` is added to the median."""

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        ok = inputs.ry.any()
        median = jnp.nanmedian(jnp.where(inputs.ry, inputs.y, jnp.nan))
        value = jnp.where(ok, median, 0.0) + shift  # no observed value: report, write no NaN
        return Draw(values=jnp.full_like(inputs.y, value), state=state, ok=ok)

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    name="toy.median", kinds=frozenset({"continuous"}), make=make,
    description="the observed median (a toy built-in method)",
)

"""``mean``: unconditional mean imputation (deterministic; for comparison only)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmice.methods.base import Draw, Imputer, MethodInfo, Target, VisitInputs


def make(target: Target) -> Imputer:
    """Bind ``mean`` to a continuous target."""

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        w = inputs.ry.astype(inputs.y.dtype)
        mean = jnp.sum(w * inputs.y) / jnp.maximum(w.sum(), 1.0)
        return Draw(values=jnp.full_like(inputs.y, mean), state=state, ok=w.sum() > 0)

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    name="mean", kinds=frozenset({"continuous"}), make=make,
    multilevel_alternative="2lonly.mean", description="unconditional mean",
)

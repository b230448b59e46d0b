"""``norm.nob``: linear regression imputation ignoring parameter uncertainty.

Imputes ``x beta_hat + N(0, sigma_hat^2)``, with the least-squares estimates treated as known
(improper for multiple imputation; kept for comparison, as in mice).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmice._src.numerics.linalg import least_squares
from jaxmice.methods.base import Draw, Imputer, MethodInfo, Target, VisitInputs
from jaxmice.methods.norm import RIDGE


def make(target: Target, *, ridge: float = RIDGE) -> Imputer:
    """Bind ``norm.nob`` to a continuous target."""
    ridge = float(ridge)

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        fit = least_squares(inputs.x, inputs.y, inputs.ry.astype(inputs.x.dtype), inputs.keep,
                            ridge, inputs.gram)
        sigma = jnp.sqrt(fit.rss / fit.df)
        noise = jax.random.normal(key, inputs.y.shape, dtype=inputs.x.dtype)
        values = (inputs.x * inputs.keep) @ fit.coef + sigma * noise
        return Draw(values=values, state=state, ok=fit.ok)

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    name="norm.nob", kinds=frozenset({"continuous"}), make=make,
    multilevel_alternative="2l.pan",
    description="linear regression, parameter uncertainty ignored",
)

"""``norm``: Bayesian linear regression imputation (Rubin 1987, p. 167; mice's ``norm``).

Draws sigma^2 and beta from their posterior given the observed rows, then imputes
``x beta* + N(0, sigma*^2)``.
"""

from __future__ import annotations

import jax

from jaxmice._src.numerics.random import draw_linear
from jaxmice.methods.base import Draw, Imputer, MethodInfo, Target, VisitInputs

#: the default ridge: the share of each diagonal element of x'x added for stability
RIDGE = 1e-5


def make(target: Target, *, ridge: float = RIDGE) -> Imputer:
    """Bind ``norm`` to a continuous target."""
    ridge = float(ridge)

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        k_par, k_noise = jax.random.split(key)
        par = draw_linear(k_par, inputs.x, inputs.y, inputs.ry.astype(inputs.x.dtype),
                          inputs.keep, ridge, inputs.gram)
        noise = jax.random.normal(k_noise, inputs.y.shape, dtype=inputs.x.dtype)
        values = (inputs.x * inputs.keep) @ par.beta + par.sigma * noise
        return Draw(values=values, state=state, ok=par.fit.ok)

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    name="norm", kinds=frozenset({"continuous"}), make=make, multilevel_alternative="2l.pan",
    description="Bayesian linear regression",
)

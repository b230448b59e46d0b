"""``norm``: Bayesian linear regression imputation (Rubin 1987, p. 167; mice's ``norm``).

Draws sigma^2 and beta from their posterior given the observed rows, then imputes
``x beta* + N(0, sigma*^2)``.
"""

from __future__ import annotations

import jax

from ..linalg import draw_linear
from .base import Draw, Imputer, MethodInfo, Target, VisitInputs, no_state


def make(target: Target) -> Imputer:
    """Bind ``norm`` to a continuous target."""
    ridge = float(target.option("ridge", 1e-5))

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        k_par, k_noise = jax.random.split(key)
        par = draw_linear(k_par, inputs.x, inputs.y, inputs.ry.astype(inputs.x.dtype),
                          inputs.keep, ridge, inputs.gram)
        noise = jax.random.normal(k_noise, inputs.y.shape, dtype=inputs.x.dtype)
        values = (inputs.x * inputs.keep) @ par.beta + par.sigma * noise
        return Draw(values=values, state=state, ok=par.fit.ok)

    return Imputer(init=no_state, draw=draw)


METHOD = MethodInfo(
    name="norm", kinds=frozenset({"continuous"}), make=make, multilevel_alternative="2l.pan",
    options=("ridge",), description="Bayesian linear regression",
)

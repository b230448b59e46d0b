"""``norm.predict``: regression imputation (the least-squares prediction, no noise)."""

from __future__ import annotations

import jax

from jaxmice._src.numerics.linalg import least_squares
from jaxmice.methods.base import Draw, Imputer, MethodInfo, Target, VisitInputs
from jaxmice.methods.norm import RIDGE


def make(target: Target, *, ridge: float = RIDGE) -> Imputer:
    """Bind ``norm.predict`` to a continuous target."""
    ridge = float(ridge)

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        fit = least_squares(inputs.x, inputs.y, inputs.ry.astype(inputs.x.dtype), inputs.keep,
                            ridge, inputs.gram)
        return Draw(values=(inputs.x * inputs.keep) @ fit.coef, state=state, ok=fit.ok)

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    name="norm.predict", kinds=frozenset({"continuous"}), make=make,
    multilevel_alternative="2l.pan",
    description="linear regression prediction (deterministic)",
)

"""A method added from outside the package, as a user would: ``toy.median`` imputes the median
of the observed values, plus an optional ``shift``.

Registered on import. ``tests/conftest.py`` imports this module, so the method is in
``jm.available_methods()`` before the contract test (tests/methods/test_method_contract.py) is
collected, and that test covers it like every built-in method.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import jaxmice as jm
from jaxmice.methods import Draw, Imputer, MethodInfo, Target, VisitInputs


def make(target: Target, *, shift: float = 0.0) -> Imputer:
    """Bind ``toy.median`` to a continuous target; option ``shift`` is added to the median."""

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        ok = inputs.ry.any()
        median = jnp.nanmedian(jnp.where(inputs.ry, inputs.y, jnp.nan))
        value = jnp.where(ok, median, 0.0) + shift  # no observed value: report, write no NaN
        return Draw(values=jnp.full_like(inputs.y, value), state=state, ok=ok)

    return Imputer(init=None, draw=draw)


TOY_MEDIAN = jm.register_method(MethodInfo(
    name="toy.median", kinds=frozenset({"continuous"}), make=make,
    description="the observed median (a toy method registered from outside)",
))

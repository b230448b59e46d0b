"""Float64 scoped to jaxmice's own calls: ``@in_float64`` on every public entry point.

Variance components and near-collinear designs need float64, but importing jaxmice must not
change the user's own JAX program. So jaxmice never turns on ``jax_enable_x64`` for the process;
each public function and method that runs JAX is wrapped in ``jax.enable_x64(True)``, a
thread-local context that also keys JAX's compiled programs. Arrays made inside stay float64
(``Imputations.data``); methods that compute with them later (``iterate``, ``fit``) are wrapped
too, so they keep computing in float64.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import jax

Params = ParamSpec("Params")
Result = TypeVar("Result")


def _x64_context() -> object:
    """``jax.enable_x64(True)`` (JAX >= 0.8), or ``jax.experimental.enable_x64()`` before."""
    enable_x64 = getattr(jax, "enable_x64", None)
    if enable_x64 is not None:
        return enable_x64(True)
    from jax.experimental import enable_x64 as legacy_enable_x64

    return legacy_enable_x64()


def in_float64(fn: Callable[Params, Result]) -> Callable[Params, Result]:
    """Run ``fn`` with JAX's 64-bit types on, restoring the caller's setting afterwards."""

    @functools.wraps(fn)
    def wrapper(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        with _x64_context():
            return fn(*args, **kwargs)

    return wrapper

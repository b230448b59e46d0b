"""Shared helpers for the method tests: call a method's draw directly, many times at once."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# One test process compiles hundreds of programs, each compiled once; writing them all to JAX's
# persistent cache gains nothing here, and jaxlib 0.10's CPU cache writer has aborted the
# process once in a cold-cache run. Set JAXMICE_COMPILATION_CACHE=1 to test with the cache.
os.environ.setdefault("JAXMICE_COMPILATION_CACHE", "0")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# jaxmice scopes float64 to its public calls; the tests also call method internals directly
# (``imputer.draw`` under ``jax.jit``), so the test process runs with float64 throughout.
# tests/runtime/test_jax_settings.py checks the scoping itself, in fresh processes.
jax.config.update("jax_enable_x64", True)

# Methods registered from outside the package register on import. Importing them here, before
# any test module is collected, puts them in jm.available_methods() when the contract test
# (tests/methods/test_method_contract.py) builds its parameters, so it covers them too.
sys.path.insert(0, str(Path(__file__).parent / "support"))  # tests' helpers
import toy_method  # noqa: E402, F401

import jaxmice  # noqa: E402, F401
from jaxmice.methods import Target, VisitInputs, get_method  # noqa: E402
from jaxmice.methods.base import initial_state  # noqa: E402


def visit_inputs(x: np.ndarray, y: np.ndarray, ry: np.ndarray) -> VisitInputs:
    """Inputs for a single-level visit: x f[n, q] (intercept first), y f[n], ry bool[n]."""
    n, q = x.shape
    return VisitInputs(
        y=jnp.asarray(np.where(ry, y, 0.0)), ry=jnp.asarray(ry), wy=jnp.asarray(~ry),
        x=jnp.asarray(x), keep=jnp.ones(q, bool), gram=jnp.asarray((x * ry[:, None]).T @ x),
        codes=jnp.ones(q, jnp.int32),
        cluster=jnp.zeros(n, jnp.int32),
    )


def many_draws(method: str, inputs: VisitInputs, n_draws: int, seed: int = 0, kind: str =
               "continuous", n_levels: int = 0, **options) -> tuple[np.ndarray, np.ndarray]:
    """``n_draws`` independent draws of ``method``: (values f[n_draws, n], ok bool[n_draws])."""
    imputer = get_method(method).make(Target(name="y", kind=kind, n_levels=n_levels),
                                      **options)
    state = initial_state(imputer, inputs)
    keys = jax.random.split(jax.random.PRNGKey(seed), n_draws)
    out = jax.jit(jax.vmap(lambda k: imputer.draw(k, state, inputs)))(keys)
    return np.asarray(out.values), np.asarray(out.ok)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261124)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop compiled programs after each test module.

    XLA:CPU maps every compiled kernel into memory; the suite compiles thousands of programs
    (one per data shape), and kept alive together they reach Linux's limit of 65,530 memory
    maps per process, at which point compilation crashes. No module needs another's programs.
    """
    yield
    jax.clear_caches()
    from jaxmice._src.runtime.programs import clear_compiled

    clear_compiled()
    import gc

    gc.collect()

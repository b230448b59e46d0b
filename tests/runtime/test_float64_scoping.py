"""jaxmice's float64 is scoped to its own calls, checked in the test process itself with
float64 off (``tests/conftest.py`` turns it on for the suite, which calls method internals
directly; ``tests/runtime/test_jax_settings.py`` checks fresh processes): the public calls compute
in float64, return float64, and leave the switch off."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmice as jm


@pytest.fixture(autouse=True)
def _float32_process():
    jax.config.update("jax_enable_x64", False)
    yield
    jax.config.update("jax_enable_x64", True)


def test_public_calls_run_in_float64_and_leave_the_switch_off():
    df = jm.datasets.load_popmis()[["school", "popular", "sex", "texp"]]
    df = df[df.school <= 20].reset_index(drop=True)
    pred = jm.make_predictor_matrix(df, cluster="school")
    imp = jm.mice(df, m=2, maxit=2, seed=1, progress=False, predictor_matrix=pred,
                  method={"popular": "2l.pan"})
    assert not jax.config.jax_enable_x64
    assert imp.completed_arrays.dtype == np.float64
    fits = imp.fit("popular ~ 1 + sex + texp + (1 | school)")
    null = imp.fit("popular ~ 1 + sex + (1 | school)")
    assert fits.beta.dtype == np.float64 and not jax.config.jax_enable_x64
    pooled = fits.pool()
    assert pooled.qbar.dtype == np.float64 and np.isfinite(pooled.std_error).all()
    assert np.isfinite(jm.D1(fits, null).statistic) and np.isfinite(jm.D4(fits, null).statistic)
    assert not jax.config.jax_enable_x64
    # the user's own code keeps float32
    assert jnp.ones(2).dtype == jnp.float32
    # the same numbers as the suite's float64 process gives (the chains ran in float64)
    jax.config.update("jax_enable_x64", True)
    again = jm.mice(df, m=2, maxit=2, seed=1, progress=False, predictor_matrix=pred,
                    method={"popular": "2l.pan"})
    np.testing.assert_array_equal(again.completed_arrays, imp.completed_arrays)

"""The loop-free gamma, inverse-gamma and Wishart draws (jaxmice._src.numerics.random, issue 12)
against their exact distributions and NumPyro's, with tolerances from the Monte Carlo error."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxmice._src.numerics import random as jr

N = 200_000


@pytest.fixture(autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("shape", [0.05, 0.3, 1.0, 2.5, 40.0, 5000.0])
def test_gamma_has_the_gamma_distribution(shape):
    draws = np.asarray(jr.gamma(jax.random.key(1), shape, (N,)))
    assert np.all(draws > 0) and np.all(np.isfinite(draws))
    # Kolmogorov-Smirnov at n = 200,000: the 0.1% critical value is 1.95 / sqrt(n)
    assert stats.kstest(draws, stats.gamma(shape).cdf).statistic < 1.95 / np.sqrt(N)
    assert abs(draws.mean() - shape) < 4 * np.sqrt(shape / N)


def test_gamma_broadcasts_shapes_and_matches_numpyro_moments():
    import numpyro.distributions as dist

    shapes = jnp.array([0.5, 3.0, 12.0])
    draws = np.asarray(jr.gamma(jax.random.key(2), shapes, (N, 3)))
    reference = np.asarray(dist.Gamma(shapes).sample(jax.random.key(3), (N,)))
    se = np.sqrt(2 * np.asarray(shapes) / N)  # sd of the difference of two means
    np.testing.assert_array_less(np.abs(draws.mean(0) - reference.mean(0)), 4 * se)
    np.testing.assert_allclose(draws.var(0), np.asarray(shapes), rtol=0.03)


def test_chisquare_and_inverse_gamma():
    chi2 = np.asarray(jr.chisquare(jax.random.key(4), 7.0, (N,)))
    assert stats.kstest(chi2, stats.chi2(7.0).cdf).statistic < 1.95 / np.sqrt(N)
    ig = np.asarray(jr.inverse_gamma(jax.random.key(5), jnp.full(N, 3.5), jnp.full(N, 2.0)))
    assert stats.kstest(ig, stats.invgamma(3.5, scale=2.0).cdf).statistic < 1.95 / np.sqrt(N)


def test_wishart_has_the_wishart_moments():
    scale = jnp.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    df, n = 6.5, 40_000
    keys = jax.random.split(jax.random.key(6), n)
    tril = jax.vmap(jr.wishart_cholesky, in_axes=(0, None, None))(
        keys, df, jnp.linalg.cholesky(scale))
    w = np.asarray(jnp.einsum("nij,nkj->nik", tril, tril))
    s = np.asarray(scale)
    mean, var = df * s, df * (s**2 + np.outer(np.diag(s), np.diag(s)))
    np.testing.assert_array_less(np.abs(w.mean(0) - mean), 4 * np.sqrt(var / n))
    np.testing.assert_allclose(w.var(0), var, rtol=0.06)


def test_the_draws_compile_without_loops():
    """The point of the module: no rejection loop (``random_gamma`` lowers to a ``while``
    around the random bits; the only loops left are threefry's own rounds)."""
    jaxpr = str(jax.make_jaxpr(lambda k: jr.gamma(k, 2.0, (3,)))(jax.random.key(0)))
    assert "while" not in jaxpr and "random_gamma" not in jaxpr

    def loops(draw):
        text = jax.jit(lambda k: draw(k, 2.0, (3,))).lower(jax.random.key(0)).as_text()
        return text.count("stablehlo.while")

    assert loops(jr.gamma) < loops(jax.random.gamma)

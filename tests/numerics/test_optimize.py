"""The one Newton optimiser: newton_minimize (mixed models) and its posterior-mode wrapper
newton_mode (logreg, polyreg, polr)."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize

from jaxmice._src.numerics.optimize import newton_minimize, newton_mode, positive_definite
from jaxmice.methods import logreg, polr, polyreg


def _logistic(seed: int, separated: bool = False):
    rng = np.random.default_rng(seed)
    n = 200
    x = np.c_[np.ones(n), rng.normal(size=(n, 3))]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-x @ np.array([-1.0, 1.5, 0.5, 0.0]))))
    if separated:
        y = x[:, 1] > 0
    x, y = jnp.asarray(x), jnp.asarray(y, dtype=jnp.float64)

    def neg_log_post(beta):
        eta = x @ beta
        return jnp.sum(jnp.logaddexp(0.0, eta) - y * eta) + 0.5e-4 * beta @ beta

    return x, neg_log_post


def test_methods_import_the_one_newton():
    assert logreg.newton_mode is polyreg.newton_mode is polr.newton_mode is newton_mode


def test_mode_and_curvature_of_a_logistic_posterior():
    x, f = _logistic(0)
    mode = newton_mode(f, jnp.zeros(4))
    reference = minimize(lambda b: float(f(jnp.asarray(b))), np.zeros(4),
                         jac=lambda b: np.asarray(jax.grad(f)(jnp.asarray(b))),
                         method="BFGS", options={"gtol": 1e-10})
    np.testing.assert_allclose(np.asarray(mode.theta), reference.x, rtol=0, atol=1e-7)
    assert bool(mode.ok)
    assert float(jnp.max(jnp.abs(jax.grad(f)(mode.theta)))) < 1e-10
    p = jax.nn.sigmoid(x @ mode.theta)
    hessian = (x * (p * (1 - p))[:, None]).T @ x + 1e-4 * jnp.eye(4) + 1e-9 * jnp.eye(4)
    np.testing.assert_allclose(np.asarray(mode.hessian), np.asarray(hessian), rtol=1e-12)


def test_separation_stays_finite_under_the_prior():
    _, f = _logistic(1, separated=True)
    mode = newton_mode(f, jnp.zeros(4))
    assert bool(mode.ok) and bool(jnp.all(jnp.isfinite(mode.theta)))
    assert float(mode.theta[1]) > 10.0  # far out along the separating direction
    result = newton_minimize(f, jnp.zeros(4), tol=1e-14)
    np.testing.assert_array_equal(np.asarray(result.x), np.asarray(mode.theta))


def test_positive_definite_shifts_only_an_indefinite_hessian():
    h = jnp.array([[2.0, 0.0], [0.0, -1.0]])
    shifted = positive_definite(h)
    np.testing.assert_allclose(np.linalg.eigvalsh(np.asarray(shifted)), [0.01 + 1e-9, 3.01 + 1e-9],
                               rtol=1e-12)
    spd = jnp.array([[2.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(np.asarray(positive_definite(spd)),
                               np.asarray(spd) + 1e-9 * np.eye(2), rtol=0, atol=1e-15)

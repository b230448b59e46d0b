"""Random-effects meta-analysis (jaxmice._src.numerics.meta): against metafor, the moments
estimator's closed form, a large simulation, masking, batching, and the moments of the draws.

The metafor numbers come from tests/r/make_meta_reference.R (tests/data/meta_reference.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmice._src.numerics import meta

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "meta_reference.json").read_text())
TOL = 1e-6
N_DRAWS = 20000
UNIVARIATE_K = 16

# compiled once per shape and method (eagerly, every call would trace Newton's loop again);
# ``included`` and ``structure`` always passed as arrays, so the tests share the programs
_compiled = jax.jit(meta.meta_analysis, static_argnames="method")


def fit_meta(y, v, *, method="reml", included=None, structure=None) -> meta.MetaResult:
    k, d = np.shape(y)
    included = np.ones(k, bool) if included is None else included
    structure = np.ones((d, d), bool) if structure is None else structure
    return _compiled(y, v, method=method, included=included, structure=structure)


def fit_univariate(yi, vi, *, method="reml", included=None) -> meta.MetaResult:
    vi = np.asarray(vi)
    return fit_meta(np.asarray(yi)[:, None], vi[:, None, None], method=method,
                    included=included)


def _padded(yi, vi, k=UNIVARIATE_K) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Univariate data padded with garbage to ``k`` studies, so that all univariate fits share
    one program per method: (yi, vi, included)."""
    n = len(yi)
    garbage = np.array([np.nan, np.inf, -1.0, 0.0] * k)[:k - n]
    included = np.arange(k) < n
    return (np.concatenate([yi, garbage]), np.concatenate([vi, garbage[::-1]]), included)


def _berkey() -> tuple[np.ndarray, np.ndarray]:
    case = REFERENCE["berkey"]
    return np.array(case["y"]), np.array(case["v"])


def _close(actual, expected, tol=TOL) -> float:
    """Largest difference, absolute below 1 and relative above; asserts it is below ``tol``."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    diff = float(np.max(np.abs(actual - expected) / np.maximum(1.0, np.abs(expected))))
    assert diff < tol, (actual, expected)
    return diff


# --- 1. metafor -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["bcg", "handmade"])
@pytest.mark.parametrize("method,r_method", [("reml", "reml"), ("ml", "ml"), ("mm", "dl")])
def test_univariate_matches_metafor(case, method, r_method):
    data, ref = REFERENCE[case], REFERENCE[case][r_method]
    yi, vi, included = _padded(np.array(data["yi"]), np.array(data["vi"]))
    fit = fit_univariate(yi, vi, method=method, included=included)
    assert bool(fit.converged)
    assert int(fit.n_studies) == len(data["yi"])
    _close(fit.estimate[0], ref["estimate"])
    _close(np.sqrt(fit.covariance[0, 0]), ref["se"])
    _close(fit.psi[0, 0], ref["tau2"])
    if method == "mm":
        assert np.isnan(fit.loglik)
        assert np.all(np.asarray(fit.psi_par_cov) == 0.0)
    else:
        _close(fit.loglik, ref["loglik"])
        assert float(fit.psi_par_cov[0, 0]) > 0.0
    if case == "handmade":
        # the boundary: metafor reports exactly 0, here the Cholesky element is tiny
        assert ref["tau2"] == 0.0
        assert abs(float(fit.psi_par[0])) < 1e-6


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_bivariate_matches_metafor(method):
    y, v = _berkey()
    ref = REFERENCE["berkey"][method]
    fit = fit_meta(y, v, method=method)
    assert bool(fit.converged)
    _close(fit.estimate, ref["estimate"])
    _close(np.sqrt(np.diag(fit.covariance)), ref["se"])
    _close(fit.covariance, ref["vcov"])
    _close(fit.psi, ref["psi"])
    _close(fit.loglik, ref["loglik"])
    low = np.zeros((2, 2))
    low[np.tril_indices(2)] = np.asarray(fit.psi_par)
    np.testing.assert_allclose(low @ low.T, fit.psi, atol=1e-14)
    assert np.all(np.diag(low) >= 0)


# --- 2. method of moments -------------------------------------------------------------------


def _moments_by_formula(y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Jackson, White & Riley's (2013) estimator for complete data and no moderators, written
    out with loops: E[Q] = (n - 1) I + B Psi."""
    n, d = y.shape
    w = [np.linalg.inv(vk) for vk in v]
    a = sum(w)
    m = np.linalg.solve(a, sum(wk @ yk for wk, yk in zip(w, y, strict=True)))
    q = sum(wk @ np.outer(yk - m, yk - m) for wk, yk in zip(w, y, strict=True))
    b = a - sum(wk @ np.linalg.inv(a) @ wk for wk in w)
    psi = np.linalg.solve(b, q - (n - 1) * np.eye(d))
    psi = 0.5 * (psi + psi.T)
    lam, vec = np.linalg.eigh(psi)
    return (vec * np.maximum(lam, 0.0)) @ vec.T


def test_moments_closed_form_equal_variances():
    # with V_k = V for all k the estimator is the sample covariance minus V
    y = np.array([[0.0, 1.0], [2.0, 0.5], [4.0, 4.0]])
    v_diag = np.array([0.3, 0.2])
    v = np.broadcast_to(np.diag(v_diag), (3, 2, 2))
    expected = np.cov(y.T) - np.diag(v_diag)
    assert np.all(np.linalg.eigvalsh(expected) > 0)
    # padded to k = 7 with garbage, to share the program of the next test
    padded_y = np.concatenate([y, np.full((4, 2), np.nan)])
    padded_v = np.concatenate([v, np.zeros((4, 2, 2))])
    fit = fit_meta(padded_y, padded_v, method="mm", included=np.arange(7) < 3)
    np.testing.assert_allclose(fit.psi, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fit.estimate, y.mean(axis=0), atol=1e-14)
    # Psi is treated as known: the covariance of the mean is that of the GLS fit at Psi
    np.testing.assert_allclose(fit.covariance, (expected + np.diag(v_diag)) / 3, atol=1e-14)


def test_moments_general_formula_and_psd_projection(rng):
    k, d = 7, 2
    y = rng.normal(size=(k, d)) * np.array([1.0, 0.3])
    roots = rng.normal(size=(k, d, d)) * 0.3
    v = roots @ np.swapaxes(roots, 1, 2) + 0.05 * np.eye(d)
    fit = fit_meta(y, v, method="mm")
    np.testing.assert_allclose(fit.psi, _moments_by_formula(y, v), rtol=1e-10, atol=1e-13)
    assert np.all(np.linalg.eigvalsh(np.asarray(fit.psi)) > -1e-14)


def test_moments_and_reml_on_a_large_simulation():
    k, d = 2000, 2
    rng = np.random.default_rng(7)
    mu, psi = np.array([0.5, -1.0]), np.array([[0.5, 0.2], [0.2, 0.3]])
    roots = rng.normal(size=(k, d, d)) * 0.4
    v = roots @ np.swapaxes(roots, 1, 2) + 0.1 * np.eye(d)
    truth = rng.multivariate_normal(mu, psi, size=k)
    y = truth + np.einsum("kij,kj->ki", np.linalg.cholesky(v), rng.normal(size=(k, d)))
    reml = fit_meta(y, v, method="reml")
    mm = fit_meta(y, v, method="mm")
    assert bool(reml.converged) and bool(mm.converged)
    # standard errors of Psi's entries by the delta method from psi_par_cov
    rows, cols = np.tril_indices(d)

    def entries(par):
        low = jnp.zeros((d, d)).at[rows, cols].set(par)
        return (low @ low.T)[rows, cols]

    jac = jax.jacobian(entries)(reml.psi_par)
    se_psi = np.sqrt(np.diag(jac @ reml.psi_par_cov @ jac.T))
    se_mu = np.sqrt(np.diag(reml.covariance))
    assert np.all(np.abs(reml.estimate - mu) < 4 * se_mu)
    assert np.all(np.abs(mm.estimate - mu) < 4 * se_mu)
    assert np.all(np.abs(np.asarray(reml.psi)[rows, cols] - psi[rows, cols]) < 4 * se_psi)
    # the moments estimator is less efficient than REML: allow half as much again
    assert np.all(np.abs(np.asarray(mm.psi)[rows, cols] - psi[rows, cols]) < 6 * se_psi)
    assert np.all(np.abs(np.asarray(mm.psi - reml.psi)[rows, cols]) < 4 * se_psi)
    # the precision is what it should be at k = 2000: a few hundredths
    assert np.all(se_psi < 0.03)


# --- 3. masking -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["reml", "mm"])
def test_padding_with_garbage_equals_dropping(method):
    data = REFERENCE["bcg"]
    yi, vi = np.array(data["yi"]), np.array(data["vi"])
    # garbage in the middle and at the end
    padded_y = np.concatenate([yi[:5], [np.nan, np.inf], yi[5:], [np.nan]])
    padded_v = np.concatenate([vi[:5], [np.nan, -1.0], vi[5:], [0.0]])
    included = np.isfinite(padded_y)
    assert len(padded_y) == UNIVARIATE_K
    fit = fit_univariate(padded_y, padded_v, method=method, included=included)
    plain = fit_univariate(yi, vi, method=method)
    assert int(fit.n_studies) == len(yi)
    for name in ("estimate", "covariance", "psi", "psi_par", "psi_par_cov", "loglik"):
        np.testing.assert_allclose(getattr(fit, name), getattr(plain, name), rtol=1e-10,
                                   atol=1e-12, err_msg=name)
    assert bool(fit.converged)


def test_bivariate_padding_with_garbage_equals_dropping():
    y, v = _berkey()
    padded_y = np.concatenate([y, np.full((2, 2), np.nan)])
    padded_v = np.concatenate([v, np.full((2, 2, 2), np.nan)])
    included = np.arange(7) < 5
    fit = fit_meta(padded_y, padded_v, included=included)
    plain = fit_meta(y, v)
    for name in ("estimate", "covariance", "psi", "psi_par", "loglik"):
        np.testing.assert_allclose(getattr(fit, name), getattr(plain, name), rtol=1e-9,
                                   atol=1e-12, err_msg=name)
    np.testing.assert_allclose(fit.psi_par_cov, plain.psi_par_cov, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("method", ["reml", "ml", "mm"])
def test_diagonal_structure_equals_separate_univariate_fits(method):
    y, v = _berkey()
    v_diag = np.diagonal(v, axis1=1, axis2=2)
    fit = fit_meta(y, jax.vmap(jnp.diag)(v_diag), method=method,
                             structure=np.eye(2, dtype=bool))
    assert bool(fit.converged)
    assert float(fit.psi[0, 1]) == 0.0 and float(fit.psi_par[1]) == 0.0
    assert np.all(np.asarray(fit.psi_par_cov)[1] == 0.0)
    loglik = 0.0
    for j in range(2):
        single = fit_univariate(*_padded(y[:, j], v_diag[:, j])[:2], method=method,
                                included=_padded(y[:, j], v_diag[:, j])[2])
        np.testing.assert_allclose(fit.estimate[j], single.estimate[0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fit.covariance[j, j], single.covariance[0, 0], rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_allclose(fit.psi[j, j], single.psi[0, 0], rtol=1e-8, atol=1e-12)
        loglik += float(single.loglik)
    np.testing.assert_allclose(fit.covariance[0, 1], 0.0, atol=1e-15)
    if method != "mm":
        np.testing.assert_allclose(fit.loglik, loglik, rtol=1e-10)


def test_switched_off_dimension():
    y, v = _berkey()
    # a third dimension without a random effect: estimate 0 and covariance I, as callers do
    y3 = np.concatenate([y, np.zeros((5, 1))], axis=1)
    v3 = np.zeros((5, 3, 3))
    v3[:, :2, :2], v3[:, 2, 2] = v, 1.0
    structure = np.zeros((3, 3), bool)
    structure[:2, :2] = True
    fit = fit_meta(y3, v3, structure=structure)
    plain = fit_meta(y, v)
    assert bool(fit.converged)
    assert np.all(np.asarray(fit.psi)[2] == 0.0) and np.all(np.asarray(fit.psi)[:, 2] == 0.0)
    np.testing.assert_allclose(fit.psi[:2, :2], plain.psi, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(fit.estimate[:2], plain.estimate, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fit.covariance[:2, :2], plain.covariance, rtol=1e-8, atol=1e-12)


def test_structure_mask_fixed_elements_in_psi_par_cov():
    y, v = _berkey()
    fit = fit_meta(y, v, method="mm", structure=np.eye(2, dtype=bool))
    assert float(fit.psi[0, 1]) == 0.0
    assert np.all(np.asarray(fit.structure) == np.eye(2, dtype=bool))


def test_unknown_method():
    with pytest.raises(ValueError, match="method"):
        meta.univariate(np.zeros(3), np.ones(3), method="dl")


# --- 4. vmap and jit ------------------------------------------------------------------------


def test_vmap_equals_loop_and_jit():
    y, v = _berkey()
    rng = np.random.default_rng(3)
    batch = 3
    ys = y + 0.1 * rng.normal(size=(batch,) + y.shape)
    ys[2, 4] = np.nan  # padding in one member
    included = np.ones((batch, 5), bool)
    included[2, 4] = False
    structures = np.ones((batch, 2, 2), bool)
    structures[1] = np.eye(2, dtype=bool)

    def fit(y, included, structure):
        return meta.meta_analysis(y, v, method="reml", included=included,
                                  structure=structure)

    batched = jax.jit(jax.vmap(fit))(ys, included, structures)
    for b in range(batch):
        one = fit_meta(ys[b], v, included=included[b], structure=structures[b])
        for name in meta.MetaResult._fields:
            np.testing.assert_allclose(getattr(batched, name)[b], getattr(one, name),
                                       rtol=1e-8, atol=1e-11, err_msg=f"{name}[{b}]")
    assert np.all(np.asarray(batched.converged))



# --- 5. draws -------------------------------------------------------------------------------


def _keys(seed: int) -> jax.Array:
    return jax.random.split(jax.random.PRNGKey(seed), N_DRAWS)


def _check_mean(draws: np.ndarray, expected: np.ndarray, z: float = 4.5) -> None:
    se = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - expected) <= z * se + 1e-14), (
        draws.mean(axis=0), expected, se)


def _check_cov(draws: np.ndarray, expected: np.ndarray, z: float = 4.5) -> None:
    """Covariance of draws f[n, d] against ``expected``: the standard error of each entry
    from the sample variance of the centred products."""
    centred = draws - draws.mean(axis=0)
    products = centred[:, :, None] * centred[:, None, :]
    se = products.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(products.mean(axis=0) - expected) <= z * se + 1e-14), (
        products.mean(axis=0), expected, se)


def test_draw_parameters_moments():
    y, v = _berkey()
    fit = fit_meta(y, v, method="reml")
    mu, psi = jax.jit(jax.vmap(meta.draw_parameters, in_axes=(0, None)))(_keys(1), fit)
    mu, psi = np.asarray(mu), np.asarray(psi)
    _check_mean(mu, np.asarray(fit.estimate))
    _check_cov(mu, np.asarray(fit.covariance))
    # E[(L + e)(L + e)'] = L L' + E[e e'] for e ~ N(0, psi_par_cov) on the packed elements
    d = 2
    rows, cols = np.tril_indices(d)
    cov = np.asarray(fit.psi_par_cov)
    extra = np.zeros((d, d))
    for a, (i, m) in enumerate(zip(rows, cols, strict=True)):
        for b, (j, n) in enumerate(zip(rows, cols, strict=True)):
            if m == n:
                extra[i, j] += cov[a, b]
    _check_mean(psi.reshape(N_DRAWS, -1), (np.asarray(fit.psi) + extra).ravel())
    assert np.all(np.linalg.eigvalsh(psi) > -1e-12)


def test_draw_parameters_keeps_the_structure_and_mm_psi():
    y, v = _berkey()
    fit = fit_meta(y, v, method="reml", structure=np.eye(2, dtype=bool))
    _, psi = jax.vmap(meta.draw_parameters, in_axes=(0, None))(_keys(2)[:200], fit)
    assert np.all(np.asarray(psi)[:, 0, 1] == 0.0)
    assert np.all(np.asarray(psi)[:, 0, 0] > 0.0)
    mm = fit_meta(y, v, method="mm")
    mu, psi = jax.vmap(meta.draw_parameters, in_axes=(0, None))(_keys(3)[:200], mm)
    assert np.all(np.asarray(psi) == np.asarray(mm.psi)[None])
    assert np.asarray(mu).std(axis=0).min() > 0.0


def test_draw_study_effects_moments():
    y, v = _berkey()
    mu = np.array([0.3, -0.3])
    psi = np.array([[0.02, 0.01], [0.01, 0.03]])
    fitted = np.array([True, True, False, True, False])
    y_bad, v_bad = y.copy(), v.copy()
    y_bad[2], v_bad[2] = np.nan, np.nan
    y_bad[4], v_bad[4] = np.inf, 0.0
    draw = jax.jit(jax.vmap(meta.draw_study_effects, in_axes=(0, None, None, None, None, None)))
    draws = np.asarray(draw(_keys(4), mu, psi, y_bad, v_bad, fitted))
    assert np.all(np.isfinite(draws))
    for k in range(5):
        if fitted[k]:
            prec = np.linalg.inv(psi) + np.linalg.inv(v[k])
            cov = np.linalg.inv(prec)
            mean = cov @ (np.linalg.solve(psi, mu) + np.linalg.solve(v[k], y[k]))
        else:
            mean, cov = mu, psi
        _check_mean(draws[:, k], mean)
        _check_cov(draws[:, k], cov)


def test_draw_study_effects_with_zero_psi_is_mu():
    y, v = _berkey()
    mu = np.array([0.3, -0.3])
    fitted = np.array([True, False, True, True, True])
    draws = meta.draw_study_effects(jax.random.PRNGKey(5), mu, np.zeros((2, 2)), y, v, fitted)
    np.testing.assert_array_equal(np.asarray(draws), np.broadcast_to(mu, (5, 2)))
    # a singular Psi: only the first dimension varies, the second stays exactly at mu
    psi = np.array([[0.02, 0.0], [0.0, 0.0]])
    draws = meta.draw_study_effects(jax.random.PRNGKey(6), mu, psi, y, v, fitted)
    np.testing.assert_allclose(np.asarray(draws)[:, 1], mu[1], atol=1e-15)
    assert np.all(np.isfinite(np.asarray(draws)))

"""Fits compiled per size class (jaxmice._src.runtime.sizes): padding rows, levels and studies
changes no result, data sets of one class share one program, and a batch of replications with their
own clusters is fitted per replication."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.analysis import mixed
from jaxmice._src.analysis.model_frame import RandomDesign
from jaxmice._src.numerics import meta
from jaxmice._src.numerics.glmm import GlmmData, laplace_deviance
from jaxmice._src.numerics.lmm import lmm_stats, solve_pls
from jaxmice._src.numerics.structure import batch_rows, build_structure
from jaxmice._src.runtime import programs
from jaxmice._src.runtime.sizes import cluster_class, row_class

RTOL = 1e-8


def clustered(seed: int, sizes: list[int] | np.ndarray, levels_h: int = 5) -> pd.DataFrame:
    """A random-intercept-and-slope design, clusters ``g`` of the given sizes, with a
    gaussian ``y``, a binary ``b``, a count ``c`` and a crossed factor ``h``."""
    rng = np.random.default_rng(seed)
    sizes = np.asarray(sizes)
    g = np.repeat(np.arange(len(sizes)), sizes)
    n = g.size
    x = rng.normal(size=n)
    u0, u1 = rng.normal(0, 0.6, len(sizes)), rng.normal(0, 0.3, len(sizes))
    h = rng.integers(0, levels_h, n)
    eta = 0.5 + 0.4 * x + u0[g] + u1[g] * x
    return pd.DataFrame({
        "g": g, "h": h, "x": x,
        "y": 1.0 + eta + rng.normal(0, 0.4, levels_h)[h] + rng.normal(size=n),
        "b": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float),
        "c": rng.poisson(np.exp(0.5 * eta)).astype(float)})


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    sizes = np.random.default_rng(0).integers(3, 12, 37)
    df = clustered(1, sizes)
    # the test means something only where rows and levels really are padded
    assert row_class(len(df)) > len(df) and cluster_class(37) > 37 and cluster_class(5) > 5
    return df


def fitted_both(monkeypatch, fit, *args, **kwargs):
    """``fit(*args, **kwargs)`` padded to its size class and laid out exactly."""
    padded = fit(*args, **kwargs)
    with monkeypatch.context() as patch:
        patch.setenv("JAXMICE_SIZE_CLASSES", "exact")
        exact = fit(*args, **kwargs)
    return padded, exact


def assert_same_fit(padded, exact) -> None:
    """Every reported number of two MixedModel fits agrees to RTOL."""
    a, b = padded.batch, exact.batch
    assert a.nobs == b.nobs and a.dfcom == b.dfcom and a.fixed_names == b.fixed_names
    for name in ("beta", "vcov", "theta", "sigma", "deviance", "b", "b_cov"):
        left, right = getattr(a, name), getattr(b, name)
        assert left.shape == right.shape, name  # no padded level in the results
        np.testing.assert_allclose(left, right, rtol=RTOL, atol=1e-10, err_msg=name)
    for name in ("loglik", "aic", "bic"):
        assert getattr(padded, name) == pytest.approx(getattr(exact, name), rel=RTOL)
    if a.structure is not None:
        pd.testing.assert_frame_equal(padded.varcomp, exact.varcomp, rtol=RTOL)
        pd.testing.assert_frame_equal(padded.ranef, exact.ranef, rtol=RTOL, atol=1e-10)
        pd.testing.assert_series_equal(a.extra_parameters(), b.extra_parameters(), rtol=RTOL)


# ---------------------------------------------------------------- padding changes nothing


@pytest.mark.parametrize("formula,reml", [
    ("y ~ x + (1 + x | g)", True),
    ("y ~ x + (1 + x | g)", False),
    ("y ~ x + (1 | g) + (1 | h)", True),  # crossed: one dense block, padded per factor
])
def test_lmer_padded_equals_exact(frame, monkeypatch, formula, reml):
    padded, exact = fitted_both(monkeypatch, jm.lmer, formula, frame, reml=reml)
    assert padded.batch.b.shape[1:] == ((37, 2) if "h" not in formula else (1, 37 + 5))
    assert_same_fit(padded, exact)


@pytest.mark.parametrize("family,response", [("binomial", "b"), ("poisson", "c")])
def test_glmer_padded_equals_exact(frame, monkeypatch, family, response):
    padded, exact = fitted_both(monkeypatch, jm.glmer, f"{response} ~ x + (1 | g)", frame,
                                family=family)
    assert_same_fit(padded, exact)
    np.testing.assert_allclose(padded.batch.extra["vcov_rx"], exact.batch.extra["vcov_rx"],
                               rtol=RTOL)


@pytest.mark.parametrize("family,response", [("gaussian", "y"), ("binomial", "b")])
def test_glm_padded_equals_exact(frame, monkeypatch, family, response):
    padded, exact = fitted_both(monkeypatch, jm.glm, f"{response} ~ x", frame, family=family)
    assert padded.batch.dfcom == len(frame) - 2
    assert_same_fit(padded, exact)


@pytest.mark.parametrize("method", ["reml", "ml", "mm"])
def test_meta_padded_equals_exact(monkeypatch, method):
    rng = np.random.default_rng(5)
    k = 21
    vi = rng.uniform(0.02, 0.3, k)
    yi = 0.4 + rng.normal(0, 0.25, k) + rng.normal(0, np.sqrt(vi))
    assert cluster_class(k) > k
    padded, exact = fitted_both(monkeypatch, meta.univariate, yi, vi, method=method)
    assert int(padded.n_studies) == k
    for name in ("estimate", "covariance", "psi", "psi_par", "psi_par_cov", "loglik"):
        np.testing.assert_allclose(getattr(padded, name), getattr(exact, name), rtol=RTOL,
                                   atol=1e-12, err_msg=name)
    # DerSimonian-Laird in closed form
    w = 1 / vi
    q = np.sum(w * (yi - np.sum(w * yi) / w.sum()) ** 2)
    tau2 = max(0.0, (q - (k - 1)) / (w.sum() - np.sum(w**2) / w.sum()))
    if method == "mm":
        assert float(padded.psi[0, 0]) == pytest.approx(tau2, rel=1e-10)


def test_empty_levels_leave_the_criteria_alone():
    """Direct check of the claim the padding rests on: a level without rows has an identity
    block in the penalised factor (log-determinant 0) and zero spherical effects, for the
    profiled LMM and for the Laplace GLMM's mode and log-determinant."""
    rng = np.random.default_rng(2)
    n, levels = 40, 6
    codes = np.repeat(np.arange(levels), [5, 9, 6, 8, 7, 5])
    x = np.stack([np.ones(n), rng.normal(size=n)], axis=1)
    z = np.stack([np.ones(n), x[:, 1]], axis=1)
    design = RandomDesign(group="g", codes=codes, levels=tuple(map(str, range(levels))),
                          z=z[None], names=("(Intercept)", "x"))
    exact, zval = build_structure([design])
    padded, _ = build_structure([design], [levels + 3])
    assert padded.shape.n_blocks == levels + 3 and exact.shape.n_blocks == levels
    y = x @ [0.3, 0.5] + rng.normal(size=n)
    yb = (y > 0.3).astype(float)
    w = np.ones(n)
    theta = np.asarray([0.8, 0.3, 0.5])
    params = np.asarray([0.8, 0.3, 0.5, 0.2, 0.4])

    @functools.partial(jax.jit, static_argnames="shape")
    def criteria(zval, re, y, yb, theta, params, shape):
        sol = solve_pls(theta, lmm_stats(y, x, zval, w, re, shape), re, shape)
        return sol, laplace_deviance(params, GlmmData(yb, x, zval, w), re, shape, "binomial")

    with jax.enable_x64(True):
        out = [criteria(zval[0], s.device_arrays(), y, yb, theta, params, shape=s.shape)
               for s in (padded, exact)]
    (sol, dev), (sol_exact, dev_exact) = out
    np.testing.assert_allclose(sol.chol_z[levels:], np.broadcast_to(np.eye(2), (3, 2, 2)))
    assert np.all(np.asarray(sol.u[levels:]) == 0.0)
    for name in ("log_det_z", "log_det_x", "r2", "beta"):
        np.testing.assert_allclose(getattr(sol, name), getattr(sol_exact, name), rtol=1e-13,
                                   err_msg=name)
    np.testing.assert_allclose(dev, dev_exact, rtol=1e-13)
    # the row arrays a batch carries: padding rows point at block 0 with Z = 0
    rows = batch_rows(padded.arrays, 3, 48)
    assert rows.block.shape == (3, 48) and rows.zcol.shape == (3, 48, 2)
    assert np.all(rows.block[:, n:] == 0)


# ------------------------------------------------------------------ one program per class


def compiles(prog: programs.Program) -> int:
    """Programs of ``prog`` compiled (or read from the folder) in this process."""
    if hasattr(programs, "compile_counts"):
        name = getattr(prog, "name", f"{prog.fn.__module__}.{prog.fn.__qualname__}")
        return programs.compile_counts().get(name, 0) + programs.load_counts().get(name, 0)
    return prog._cache_size()


def test_two_sizes_in_one_class_compile_once():
    small = clustered(3, [7, 8, 6, 9, 7, 8, 5])  # 50 rows, 7 clusters
    large = clustered(4, [10, 9, 11, 8, 12, 10])  # 60 rows, 6 clusters
    assert row_class(50) == row_class(60) and cluster_class(7) == cluster_class(6)
    formula = "y ~ x + I(x^2) + (1 | g)"  # a design of its own in this test session
    programs.clear_compiled()  # none of this class left by an earlier test
    before = compiles(mixed._fit_lmm_batch)
    fits = [jm.lmer(formula, [df, df.assign(y=df.y + 0.1 * df.x)]) for df in (small, large)]
    assert compiles(mixed._fit_lmm_batch) - before == 1
    assert [f.nobs for f in fits] == [50, 60] and fits[0].b.shape[1] == 7

    studies = np.random.default_rng(1).uniform(0.05, 0.2, 20)
    assert cluster_class(19) == cluster_class(20)
    programs.clear_compiled()
    before = compiles(meta._meta_program)
    for k in (19, 20):
        meta.univariate(studies[:k] * 3, studies[:k], method="ml")
    assert compiles(meta._meta_program) - before == 1


# -------------------------------------------------------- a batch of replications' sizes


METHODS = {"y": "pmm", "x1": "pmm"}
FORMULA = "y ~ x1 + x2 + (1 | g)"


def replication(seed: int, sizes: list[int]) -> pd.DataFrame:
    """The design of tests/engine/test_batch.py with clusters of the given sizes."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(len(sizes)), sizes)
    n, n_clusters = g.size, len(sizes)
    x2 = rng.normal(size=n)
    x1 = rng.normal(0, 0.5, n_clusters)[g] + rng.normal(size=n) + 0.3 * x2
    y = 1 + 0.5 * x1 + 0.3 * x2 + rng.normal(0, 0.5, n_clusters)[g] + rng.normal(size=n)
    df = pd.DataFrame({"g": g, "x1": x1, "x2": x2, "y": y})
    for col in ("y", "x1"):
        df.loc[rng.random(n) < 1 / (1 + np.exp(1.0 - x2)), col] = np.nan
    return df


def test_batch_fits_each_replication_with_its_own_clusters():
    rng = np.random.default_rng(7)
    # two classes: (160 rows, 18 clusters) twice and (64 rows, 8 clusters) twice, rows and
    # cluster counts all different
    designs = [[8] * 16 + [1, 1], [7] * 17 + [19], [10] * 5, [9] * 6 + [6]]
    designs = [list(rng.permutation(sizes)) for sizes in designs]
    frames = [replication(s, sizes) for s, sizes in enumerate(designs)]
    keys = {(row_class(len(df)), cluster_class(df.g.nunique())) for df in frames}
    assert len(keys) == 2 and len({len(df) for df in frames}) == 4
    pred = jm.make_predictor_matrix(frames[0])
    pred.loc[:, "g"] = 0
    batch = jm.mice(frames, m=2, maxit=1, method=METHODS, predictor_matrix=pred, seed=1,
                    progress=False)

    before = compiles(mixed._fit_lmm_batch)
    fits = batch.fit(FORMULA)
    assert compiles(mixed._fit_lmm_batch) - before <= len(keys)
    pooled = fits.pool()
    lm_pooled = batch.fit("y ~ x1 + x2").pool()
    for r, df in enumerate(frames):
        completed = batch[r].complete("all")
        own = jm.lmer(FORMULA, completed)
        assert [f.nobs for f in fits[r]] == [len(df)] * 2
        assert fits[r][0].batch.b.shape[1] == df.g.nunique()
        mine, alone = pooled[r], own.pool()
        np.testing.assert_allclose(mine.qbar, alone.qbar, rtol=RTOL)
        np.testing.assert_allclose(mine.t, alone.t, rtol=1e-7)
        np.testing.assert_allclose(mine.df, alone.df, rtol=1e-6)
        pd.testing.assert_frame_equal(fits[r][1].ranef, own[1].ranef, rtol=1e-6, atol=1e-8)
        # a regression's complete-data df is each replication's own n - p
        lm_alone = jm.glm("y ~ x1 + x2", completed).pool()
        assert lm_pooled[r].dfcom == len(df) - 3 == lm_alone.dfcom
        np.testing.assert_allclose(lm_pooled[r].df, lm_alone.df, rtol=1e-8)


def test_chunks_run_in_threads_and_join_in_order():
    """Frames of 3, 2 and 2 data sets in chunks of two (the last padded), fitted on two
    threads as they arrive, joined per frame in order; a group that never fills a chunk
    runs as one chunk of what it holds."""
    data = np.arange(21.0).reshape(7, 3)
    frames = (data[:3], data[3:5], data[5:])
    group = mixed._GroupFits(lambda arrays: {"sum": arrays[0].sum(axis=1)}, full=2)
    small = mixed._GroupFits(lambda arrays: {"rows": np.full(len(arrays[0]), len(arrays[0]))},
                             full=4)
    with ThreadPoolExecutor(2) as pool:
        assert [mixed._add(pool, group, (part,)) for part in frames] == [0, 1, 2]
        mixed._add(pool, small, (data[:3],))
        mixed._flush(pool, group)
        mixed._flush(pool, small)
        assert len(group.chunks) == 4 and len(small.chunks) == 1
        out = mixed._joined(group)
        assert mixed._joined(small)[0]["rows"].tolist() == [3, 3, 3]
    for part, fitted in zip(frames, out, strict=True):
        np.testing.assert_array_equal(fitted["sum"], part.sum(axis=1))

"""No deadlock at any batch size (issue 24): jaxlib 0.10's CPU LAPACK kernels split a large
batch of matrices over XLA's thread pool and block a pool thread until the pieces finish, and
two such calls at once on a 2-thread pool deadlock. jaxmice therefore calls LAPACK on one
matrix at a time (``jaxmice._src.numerics.linalg.lapack_*``): checked in the source, and in the
compiled programs of the batched runs at the benchmarks' batch shapes (a full chunk of
replications, 8 lanes vmapped; a batched fit of 200 data sets), run under a timeout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmice._src.numerics import linalg
from jaxmice._src.runtime import programs

PACKAGE = Path(__file__).resolve().parents[2] / "jaxmice"
WORKER = Path(__file__).parents[1] / "support" / "lapack_worker.py"
#: LAPACK entry points of jnp.linalg and jax.scipy.linalg (norm is not one)
LAPACK_CALL = re.compile(r"(jnp\.linalg\.(?!norm\b)\w+|jax\.scipy\.linalg|scipy\.linalg import"
                         r"|lax\.linalg)")


def test_only_linalg_calls_lapack():
    offenders = [f"{path.relative_to(PACKAGE)}:{i}: {line.strip()}"
                 for path in PACKAGE.rglob("*.py") if path.name != "linalg.py"
                 for i, line in enumerate(path.read_text().splitlines(), 1)
                 if LAPACK_CALL.search(line.split("#")[0]) and "``" not in line]
    assert offenders == []


def test_lapack_calls_are_read_from_the_optimised_hlo():
    a = jnp.eye(6)[None].repeat(100, 0) * 2.0
    batched = jax.jit(jax.vmap(jnp.linalg.cholesky)).lower(a).compile()
    one_by_one = jax.jit(jax.vmap(linalg.lapack_cholesky)).lower(a).compile()
    [call] = programs.lapack_calls(batched)
    assert (call.batch, call.size, call.flops) == (100, 6, 100 * 6**3)
    assert call.target.startswith("lapack_") and call.target.endswith("potrf_ffi")
    assert [c.batch for c in programs.lapack_calls(one_by_one)] == [1]


@pytest.mark.parametrize("fn,args", [
    ("lapack_cholesky", 1), ("lapack_eigh", 1), ("lapack_eigvalsh", 1), ("lapack_inv", 1),
    ("lapack_solve", 2), ("lapack_solve_lower", 2), ("lapack_solve_lower_transposed", 2),
    ("lapack_cho_solve", 2)])
def test_one_matrix_at_a_time_equals_the_batched_call_bit_for_bit(fn, args):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 3, 5, 5))
    a = a @ np.swapaxes(a, -1, -2) + np.eye(5)
    b = rng.normal(size=(2, 3, 5, 2))
    low = np.linalg.cholesky(a)
    ours = getattr(linalg, fn)
    theirs = {
        "lapack_cholesky": jnp.linalg.cholesky, "lapack_eigh": jnp.linalg.eigh,
        "lapack_eigvalsh": jnp.linalg.eigvalsh, "lapack_inv": jnp.linalg.inv,
        "lapack_solve": jnp.linalg.solve,
        "lapack_solve_lower": lambda m, r: jax.scipy.linalg.solve_triangular(m, r, lower=True),
        "lapack_solve_lower_transposed": lambda m, r: jax.scipy.linalg.solve_triangular(
            m, r, lower=True, trans="T"),
        "lapack_cho_solve": lambda m, r: jax.scipy.linalg.cho_solve((m, True), r)}[fn]
    inputs = (a,) if args == 1 else ((low if "lower" in fn or "cho" in fn else a), b)
    expected = jax.tree.leaves(theirs(*inputs))
    got = jax.tree.leaves(jax.jit(jax.vmap(ours))(*inputs))  # vmapped: a loop of single calls
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(e))


def test_gradients_through_cholesky_and_solves_equal_jaxs():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(3, 6, 6))
    a = jnp.asarray(a @ np.swapaxes(a, 1, 2) + np.eye(6))
    b = jnp.asarray(rng.normal(size=(3, 6, 2)))
    weights = jnp.asarray(rng.normal(size=(3, 6, 6)))

    def criterion(m, chol, lower, lower_t):
        low = chol(m)
        return jnp.sum(weights * low) + jnp.sum(lower(low, b) ** 2) + jnp.sum(
            jnp.sin(lower_t(low, b)))

    ours = jax.grad(lambda m: criterion(m, linalg.lapack_cholesky,
                                        linalg.lapack_solve_lower,
                                        linalg.lapack_solve_lower_transposed))(a)
    jaxs = jax.grad(lambda m: criterion(
        m, jnp.linalg.cholesky,
        lambda low, r: jax.scipy.linalg.solve_triangular(low, r, lower=True),
        lambda low, r: jax.scipy.linalg.solve_triangular(low, r, lower=True, trans="T")))(a)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(jaxs), rtol=1e-9, atol=1e-12)


def _audit(methods: list[str], replications: int, timeout: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent), "JAXMICE_COMPILATION_CACHE": "0"}
    try:
        out = subprocess.run([sys.executable, str(WORKER), ",".join(methods), "40",
                              str(replications)], capture_output=True, text=True, env=env,
                             timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the batched programs of {methods} did not finish in {timeout} s: deadlock?")
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_batched_runs_and_fits_call_lapack_one_matrix_at_a_time():
    """The methods that factor a matrix per study or per cluster (two-stage, Heckman) and
    lme4-style fits past the unrolled sizes (before: calls of 384 and 1,400 matrices)."""
    report = _audit(["2l.2stage.norm", "2l.heckman"], replications=200, timeout=600)
    assert report == {"2l.2stage.norm": [], "2l.heckman": [], "fits": []}


@pytest.mark.slow
def test_every_method_calls_lapack_one_matrix_at_a_time():
    from test_sizes import CASES

    methods = sorted({case[0] for case in CASES} - {"2lonly.polyreg"})
    report = _audit(methods, replications=0, timeout=3000)
    assert report == {method: [] for method in methods}

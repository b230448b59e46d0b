"""The contract every registered method keeps, checked for every method and every kind it
declares (as numpyro tests every distribution) by :mod:`jaxmice.testing`, which outside
authors run on their own methods (``check_method``). A new method gets these tests for free.

On tiny data (30 rows in 6 clusters, a cluster variable whenever the method needs one), each
method:

- runs under the sampler's jit and vmap (``jm.mice``, m = 2, maxit = 2) with every draw
  accepted;
- draws values of the column's type: finite, binary 0/1, categories within their levels,
  counts non-negative whole numbers,
  one value per cluster for a cluster-level method, observed cells untouched;
- keeps its state's structure (tree, shapes, dtypes) from ``init`` across visits;
- reports failure, writing no NaN, when the target has no observed value;
- gives the same draws for the same key.

One ``jm.mice`` run per method imputes one column of each kind it takes, so each method
compiles once for the sampler and once per kind for the direct calls.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import jaxmice as jm
from jaxmice import testing
from jaxmice.methods import get_method


@functools.cache
def _run(name: str) -> jm.Imputations:
    return testing.contract_run(name)


CASES = [(name, kind) for name, info in jm.available_methods().items()
         for kind in sorted(info.kinds)]


@pytest.mark.parametrize(("name", "kind"), [
    pytest.param(name, kind, id=f"{name}-{kind}") for name, kind in CASES])
def test_draws_values_of_the_columns_type_under_the_sampler(name, kind):
    testing.check_draws(_run(name), name, kind)


#: each method's first kind in the default suite, its other kinds behind ``slow`` (each case
#: compiles its own visit)
FIRST_KINDS = [(name, kind) for name, kind in CASES
               if kind == sorted(jm.available_methods()[name].kinds)[0]]


@pytest.mark.parametrize(("name", "kind"), [
    pytest.param(name, kind, id=f"{name}-{kind}",
                 marks=() if (name, kind) in FIRST_KINDS else (pytest.mark.slow,))
    for name, kind in CASES])
def test_state_structure_and_same_key_same_draws(name, kind):
    testing.check_state_and_key(_run(name), name, kind)


@pytest.mark.parametrize(("name", "kind"), [
    pytest.param(name, kind, id=f"{name}-{kind}") for name, kind in CASES])
def test_no_observed_value_is_reported_not_written(name, kind):
    testing.check_failure_reported(_run(name), name, kind)


def test_every_registered_method_is_covered():
    covered = {name for name, _ in CASES}
    assert covered == set(jm.available_methods())
    assert "toy.median" in covered  # registered from outside (tests/support/toy_method.py)


def test_options_come_from_the_factories_signatures():
    assert get_method("pmm").defaults == {"donors": 5, "ridge": 1e-5}
    assert get_method("2l.pan").defaults == {"sweeps": 1, "psi_prior": "uniform-shrinkage"}
    assert get_method("2l.pmm").options == ("sweeps", "donors", "psi_prior")
    assert get_method("2lonly.pmm").defaults == {"donors": 5, "ridge": 1e-5}
    assert get_method("sample").options == ()


def test_methods_compute_their_own_design_facts():
    codes = np.array([1, 2, 0, 3, 4, 1])  # intercept, slope, unused, mean, slope + mean, fixed
    pan = get_method("2l.pan").target("y", "continuous", 0, 10, codes)
    assert (pan.n_random, pan.n_means) == (3, 2)
    assert (get_method("2lonly.norm").target("y", "continuous", 0, 10, codes).n_random,
            get_method("pmm").target("y", "continuous", 0, 0, codes).n_means) == (0, 0)
    assert [get_method(n).level for n in ("2lonly.mean", "2l.pan", "pmm")] == [
        "cluster", "row", "row"]

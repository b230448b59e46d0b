"""A method registered from outside the package (tests/support/toy_method.py) works through
``make_method``, ``mice`` and ``plot_pred``, with no change to the package."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from toy_method import TOY_MEDIAN

import jaxmice as jm
from jaxmice.methods import Draw, Imputer, MethodInfo, Target, VisitInputs
from jaxmice.testing import check_method


@pytest.fixture
def df() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 40
    x = rng.normal(size=n)
    y = 2.0 * x + rng.normal(size=n)
    y[:10] = np.nan
    return pd.DataFrame({"x": x, "y": y})


def test_toy_method_is_registered_with_its_options():
    assert jm.available_methods()["toy.median"] is TOY_MEDIAN
    assert TOY_MEDIAN.options == ("shift",)
    assert TOY_MEDIAN.defaults == {"shift": 0.0}
    assert TOY_MEDIAN.level == "row"


def test_toy_method_through_make_method_mice_and_plot_pred(df):
    methods = jm.make_method(df)
    assert methods.to_dict() == {"x": "", "y": "pmm"}
    methods["y"] = "toy.median"
    imp = jm.mice(df, m=2, maxit=2, method=methods, method_options={"y": {"shift": 0.5}},
                  seed=3, progress=False)
    assert imp.method.to_dict() == {"x": "", "y": "toy.median"}
    expected = np.median(df.y.dropna()) + 0.5
    for k in range(2):
        done = imp.complete(k)
        np.testing.assert_allclose(done.loc[df.y.isna(), "y"], expected, rtol=1e-12)
        np.testing.assert_array_equal(done.loc[df.y.notna(), "y"], df.y.dropna())
    assert imp.logged_events.empty
    fig = jm.plot_pred(imp.predictor_matrix, imp.method)
    right = [c for c in fig.axes[0].child_axes if getattr(c, "_orientation", None) == "y"]
    assert [t.get_text() for t in right[0].yaxis.get_ticklabels()] == ["", "toy.median"]


def test_toy_method_rejects_an_unknown_option(df):
    with pytest.raises(ValueError, match=r"column 'y': method 'toy.median' takes no option\(s\) "
                                         r"\['donors'\] \(it takes \['shift'\]\)"):
        jm.mice(df, m=1, maxit=1, method={"y": "toy.median"},
                method_options={"y": {"donors": 3}}, progress=False)


def test_an_outside_method_runs_the_contract_with_check_method():
    """``jaxmice.testing.check_method`` runs on an outside method what the built-in ones pass,
    and names the promise a broken one breaks (here: a NaN draw accepted when nothing is
    observed); a method checked unregistered leaves the registry as it was."""
    check_method(TOY_MEDIAN)

    def make(target: Target) -> Imputer:
        def draw(key, state, inputs: VisitInputs) -> Draw:
            median = jnp.nanmedian(jnp.where(inputs.ry, inputs.y, jnp.nan))
            return Draw(values=jnp.full_like(inputs.y, median), state=state, ok=jnp.array(True))

        return Imputer(init=None, draw=draw)

    broken = MethodInfo(name="toy.nan", kinds=frozenset({"continuous"}), make=make)
    with pytest.raises(AssertionError, match=r"toy.nan \(continuous\): a target with no "
                                             "observed value was not reported"):
        check_method(broken)
    assert "toy.nan" not in jm.available_methods()

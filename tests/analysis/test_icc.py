"""jm.icc against lme4."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.analysis.fitted import SingularFitWarning

# R 4 / lme4: d <- read.csv("popmis.csv"); f <- lmer(popular ~ 1 + (1 | school), d)
# v <- as.data.frame(VarCorr(f))$vcov; print(v[1] / sum(v), digits = 15)   (1152 rows used)
POPMIS_ICC = 0.562913343825458


@pytest.fixture(scope="module")
def popmis():
    return jm.datasets.load_popmis()


def test_icc_matches_lme4_on_incomplete_popmis(popmis):
    assert popmis["popular"].isna().sum() == 848  # rows with y missing are left out
    assert jm.icc(popmis, "popular", "school") == pytest.approx(POPMIS_ICC, abs=1e-5)


def test_icc_names_that_need_backquotes(popmis):
    renamed = popmis.rename(columns={"popular": "pop score", "school": "school-id"})
    assert jm.icc(renamed, "pop score", "school-id") == pytest.approx(POPMIS_ICC, abs=1e-5)


def test_icc_at_the_bounds_matches_lme4():
    """Values from lme4 on these data (written out with to_csv): a nearly cluster-constant
    y, and pure noise, where lme4's fit is singular with tau^2 = 0."""
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(30), 10)
    between = pd.DataFrame({"g": g, "y": rng.normal(size=30)[g] + 1e-3 * rng.normal(size=300)})
    assert jm.icc(between, "y", "g") == pytest.approx(0.999998745361086, abs=1e-5)
    noise = pd.DataFrame({"g": g, "y": rng.normal(size=300)})
    with pytest.warns(SingularFitWarning):
        assert jm.icc(noise, "y", "g") == pytest.approx(0.0, abs=1e-5)

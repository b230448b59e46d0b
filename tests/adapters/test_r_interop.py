"""R reads our long export with ``as.mids()`` (runs where R and mice are installed)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm


def _r_has_mice() -> bool:
    if shutil.which("Rscript") is None:
        return False
    return subprocess.run(["Rscript", "-e", "library(mice)"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _r_has_mice(), reason="needs R with the mice package")
def test_as_mids_reads_the_long_csv(tmp_path):
    df = jm.datasets.load_popmis()[["school", "popular", "sex", "texp"]].iloc[:300]
    imp = jm.mice(df, m=3, maxit=2, predictor_matrix={"popular": {"school": 0}}, seed=1,
                  progress=False)
    imp.to_csv(tmp_path / "long.csv")
    script = f"""
        suppressMessages(library(mice))
        long <- read.csv("{tmp_path / 'long.csv'}", check.names = FALSE)
        imp <- as.mids(long)
        cat(imp$m, sum(is.na(imp$data$popular)), "\\n")
        write.csv(complete(imp, 2), "{tmp_path / 'second.csv'}", row.names = FALSE)
    """
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    m, n_missing = map(int, out.stdout.split())
    assert m == 3 and n_missing == df.popular.isna().sum()
    second = pd.read_csv(tmp_path / "second.csv")
    np.testing.assert_allclose(second["popular"], imp.complete(1)["popular"])

"""Progress bars: shown on a terminal or in a notebook, silent in logs, forced by True/False."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

import jaxmice as jm
from jaxmice._src.runtime.progress import show_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_forced_values_win(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert show_progress(True) is True
    monkeypatch.setattr("sys.stderr", _Terminal())
    assert show_progress(False) is False


def test_default_follows_the_stream(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())  # a file or a CI log
    assert show_progress(None) is False
    monkeypatch.setattr("sys.stderr", _Terminal())
    assert show_progress(None) is True


def test_mice_writes_no_bar_into_a_log(capsys):
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(size=40), "y": rng.normal(size=40)})
    df.loc[::4, "y"] = np.nan
    jm.mice(df, m=2, maxit=2, seed=1)  # progress=None, stderr captured: not a terminal
    assert "imputing" not in capsys.readouterr().err
    jm.mice(df, m=2, maxit=2, seed=1, progress=True)
    assert "imputing" in capsys.readouterr().err

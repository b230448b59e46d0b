"""Example multilevel data sets with missing values, shipped with jaxmice.

Every loader reads a CSV file from ``jaxmice/datasets/data`` with
``pd.read_csv(path, keep_default_na=False, na_values=["NA"])``: only the token ``NA`` marks a
missing value, so IMPACT's pupil level ``"None"`` stays a string. See ``data/SOURCES.md`` for the
origin of each file and ``data/LICENSE-DATA.md`` for the licences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.resources import files

import numpy as np
import pandas as pd

__all__ = [
    "load_chem97",
    "load_impact",
    "load_ipdna",
    "load_obesity",
    "load_popmis",
    "load_popmis_completed",
]

#: Factor levels of the IMPACT data; the first level is the reference level (as in R).
IMPACT_TYPE_LEVELS = ("OBS", "RCT")
IMPACT_MOTOR_SCORE_LEVELS = ("1/2", "3", "4", "5/6")
IMPACT_PUPIL_LEVELS = ("Both", "One", "None")
IMPACT_CT_LEVELS = ("I/II", "III", "IV/V")


def _read(name: str, dtype: Mapping[str, object] | None = None) -> pd.DataFrame:
    path = files("jaxmice.datasets") / "data" / name
    with path.open("rb") as fh:
        return pd.read_csv(fh, keep_default_na=False, na_values=["NA"], dtype=dtype)


def _categorical(s: pd.Series, levels: Sequence[str] | None = None) -> pd.Series:
    """Turn ``s`` into an unordered categorical; ``levels=None`` means sorted observed values.

    Raises ``ValueError`` if ``s`` holds a (non-missing) value outside ``levels``, which would
    otherwise be turned into a missing value silently.
    """
    observed = s.dropna().astype(str)
    if levels is None:
        levels = sorted(observed.unique())
    else:
        unknown = set(observed.unique()) - set(levels)
        if unknown:
            raise ValueError(f"column {s.name!r}: values {sorted(unknown)} not in {list(levels)}")
    values = s.astype(object).where(s.notna(), None)
    values = values.map(lambda v: v if v is None else str(v))
    return pd.Series(
        pd.Categorical(values, categories=list(levels), ordered=False), index=s.index, name=s.name
    )


def _ints_to_int64(df: pd.DataFrame) -> pd.DataFrame:
    """Store integer columns (read without missing values) as int64 on every platform.

    Integer columns with missing values are read as float64 with ``NaN`` and left so.
    """
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu" and s.dtype != "int64":
            df[col] = s.astype("int64")
    return df


def load_popmis() -> pd.DataFrame:
    """Load the ``popmis`` data: pupil popularity with missing values.

    2,000 pupils in 100 schools. Columns ``pupil``, ``school`` (cluster id), ``popular``
    (popularity score, missing at random in 848 rows), ``sex`` (0/1), ``texp`` (teacher
    experience), ``const`` (a column of ones) and ``teachpop`` (teacher-rated popularity).
    All columns but ``popular`` are int64; ``popular`` is float64.

    Origin: R package ``mice``, data set ``popmis`` (GPL-2 | GPL-3).

    Returns:
        A 2000 x 7 DataFrame.
    """
    return _ints_to_int64(_read("popmis.csv"))


def load_popmis_completed() -> pd.DataFrame:
    """Load ``popmis`` with ``popular`` filled in by one draw of R ``mice`` (2l.pan).

    2,000 pupils in 100 schools. Columns ``school`` (cluster id), ``popular`` (float64, no
    missing values), ``sex`` (0/1) and ``texp`` (teacher experience). Used to check the
    mixed-model fits against lme4.

    Origin: made from R package ``mice``'s ``popmis`` (GPL-2 | GPL-3).

    Returns:
        A 2000 x 4 DataFrame.
    """
    return _ints_to_int64(_read("popmis_completed.csv"))


def load_impact(incomplete: bool = False) -> pd.DataFrame:
    """Load the IMPACT traumatic brain injury data.

    11,022 patients in 15 studies (cluster id ``name``). Columns:

    - ``name``: study, unordered categorical, levels in order of first appearance in the file.
    - ``type``: categorical with levels ``["OBS", "RCT"]`` (reference ``OBS``, so R names the
      coefficient ``typeRCT``).
    - ``age``: age in years.
    - ``motor_score``: categorical, levels ``["1/2", "3", "4", "5/6"]``.
    - ``pupil``: pupil reactivity, categorical, levels ``["Both", "One", "None"]``; ``"None"`` is
      a level, not a missing value.
    - ``ct``: CT classification, categorical, levels ``["I/II", "III", "IV/V"]``.
    - ``hypox``, ``hypots``, ``tsah``, ``edh``: 0/1 indicators (int64 when complete, nullable
      ``Int64`` with ``<NA>`` when missing, so both versions are binary to jaxmice).
    - ``mort``: 6-month mortality, 0/1.

    Origin: R package ``metamisc``, data set ``impact`` (GPL-3).

    Args:
        incomplete: If True, load ``impact_incomplete.csv`` instead: the same data with
            missingness induced in ``ct``, ``pupil``, ``hypox``, ``hypots``, ``tsah`` and ``edh``,
            sporadic (MAR on ``mort``, ``motor_score``, ``age``) and systematic (``ct`` absent in
            studies SKB and NABIS, ``pupil`` in HIT I, ``tsah`` and ``edh`` in SLIN).

    Returns:
        An 11022 x 11 DataFrame.
    """
    df = _read("impact_incomplete.csv" if incomplete else "impact.csv")
    df["name"] = _categorical(df["name"], list(pd.unique(df["name"].dropna())))
    df["type"] = _categorical(df["type"], IMPACT_TYPE_LEVELS)
    df["motor_score"] = _categorical(df["motor_score"], IMPACT_MOTOR_SCORE_LEVELS)
    df["pupil"] = _categorical(df["pupil"], IMPACT_PUPIL_LEVELS)
    df["ct"] = _categorical(df["ct"], IMPACT_CT_LEVELS)
    for col in ("hypox", "hypots", "tsah", "edh", "mort"):
        if df[col].isna().any():
            df[col] = df[col].astype("Int64")
    return _ints_to_int64(df)


def load_obesity() -> pd.DataFrame:
    """Load the ``Obesity`` data: body weight missing not at random.

    2,111 people in 5 regions (cluster id ``Cluster``, int64). ``Gender`` is categorical
    (``"Female"``, ``"Male"``), ``FamOb`` (family history of obesity) categorical (``"no"``,
    ``"yes"``); ``Time``, ``Height``, ``Age``, ``Weight`` and ``BMI`` are float64. ``Weight`` is
    MNAR (Heckman selection model with ``Time`` as exclusion restriction) and wholly missing in
    cluster 3; ``BMI = Weight / Height**2`` is missing with ``Weight``.

    Origin: R package ``micemd``, data set ``Obesity`` (formerly ``data_heckman``)
    (GPL-2 | GPL-3).

    Returns:
        A 2111 x 8 DataFrame.
    """
    df = _read("Obesity.csv", dtype={"Gender": str, "FamOb": str})
    df["Gender"] = _categorical(df["Gender"])
    df["FamOb"] = _categorical(df["FamOb"])
    df["Cluster"] = df["Cluster"].astype("int64")
    return _floats(df, exclude=("Cluster", "Gender", "FamOb"))


def load_ipdna() -> pd.DataFrame:
    """Load the ``IPDNa`` heart-failure individual participant data.

    11,685 patients in 28 centres (cluster id ``centre``, int64). ``gender`` and ``afib``
    (atrial fibrillation) are categorical with levels ``"0"``, ``"1"``; ``bmi``, ``age``,
    ``sbp``, ``dbp``, ``hr``, ``lvef`` and ``bnp`` are float64. Missingness is sporadic and
    systematic (some variables absent in whole centres, e.g. ``bnp``).

    Origin: R package ``micemd``, data set ``IPDNa`` (GPL-2 | GPL-3).

    Returns:
        An 11685 x 10 DataFrame.
    """
    df = _read("IPDNa.csv", dtype={"gender": str, "afib": str})
    df["gender"] = _categorical(df["gender"])
    df["afib"] = _categorical(df["afib"])
    df["centre"] = df["centre"].astype("int64")
    return _floats(df, exclude=("centre", "gender", "afib"))


def load_chem97() -> pd.DataFrame:
    """Load the ``CHEM97Na`` A-level chemistry data.

    1,681 pupils in 18 schools (cluster id ``School``, int64). ``Sex`` is categorical (``"F"``,
    ``"M"``); ``Age``, ``GSCE`` (average GCSE score) and ``Score`` (A-level chemistry score) are
    float64. ``Sex``, ``Age`` and ``GSCE`` have missing values.

    Origin: R package ``micemd``, data set ``CHEM97Na`` (GPL-2 | GPL-3).

    Returns:
        A 1681 x 5 DataFrame.
    """
    df = _read("CHEM97Na.csv", dtype={"Sex": str})
    df["Sex"] = _categorical(df["Sex"])
    df["School"] = df["School"].astype("int64")
    return _floats(df, exclude=("School", "Sex"))


def _floats(df: pd.DataFrame, exclude: Sequence[str]) -> pd.DataFrame:
    """Cast every column not in ``exclude`` to float64."""
    for col in df.columns:
        if col not in exclude:
            df[col] = df[col].astype("float64")
    return df

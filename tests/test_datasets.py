"""Tests for the bundled data sets in ``jaxmice.datasets``."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from jaxmice import datasets
from jaxmice._src.adapters import frames_in

IMPACT_LEVELS = {
    "type": ["OBS", "RCT"],
    "motor_score": ["1/2", "3", "4", "5/6"],
    "pupil": ["Both", "One", "None"],
    "ct": ["I/II", "III", "IV/V"],
}
IMPACT_STUDIES = [
    "TINT", "TIUS", "SLIN", "SAP", "PEG", "HIT I", "UK4", "TCDB",
    "SKB", "EBIC", "HIT II", "NABIS", "CSTAT", "PHARMOS", "APOE",
]  # fmt: skip

# Number of "NA" tokens per column of impact_incomplete.csv (counted once from the raw CSV).
IMPACT_INCOMPLETE_NA = {
    "name": 0,
    "type": 0,
    "age": 0,
    "motor_score": 0,
    "pupil": 1305,
    "ct": 1577,
    "hypox": 1998,
    "hypots": 1692,
    "tsah": 1731,
    "edh": 1524,
    "mort": 0,
}
POPMIS_POPULAR_NA = 848


@pytest.mark.parametrize(
    ("loader", "shape", "cluster", "n_clusters"),
    [
        (datasets.load_popmis, (2000, 7), "school", 100),
        (datasets.load_popmis_completed, (2000, 4), "school", 100),
        (datasets.load_impact, (11022, 11), "name", 15),
        (lambda: datasets.load_impact(incomplete=True), (11022, 11), "name", 15),
        (datasets.load_obesity, (2111, 8), "Cluster", 5),
        (datasets.load_ipdna, (11685, 10), "centre", 28),
        (datasets.load_chem97, (1681, 5), "School", 18),
    ],
)
def test_shape_and_clusters(loader, shape, cluster, n_clusters):
    df = loader()
    assert isinstance(df, pd.DataFrame)
    assert df.shape == shape
    assert df[cluster].notna().all()
    assert df[cluster].nunique() == n_clusters


def test_popmis_dtypes_and_missing():
    df = datasets.load_popmis()
    assert list(df.columns) == ["pupil", "school", "popular", "sex", "texp", "const", "teachpop"]
    for col in ["pupil", "school", "sex", "texp", "const", "teachpop"]:
        assert df[col].dtype == "int64", col
    assert df["popular"].dtype == "float64"
    assert set(df["sex"].unique()) == {0, 1}
    assert df["popular"].isna().sum() == POPMIS_POPULAR_NA
    assert df.drop(columns="popular").notna().all().all()


def test_popmis_completed_has_no_missing():
    df = datasets.load_popmis_completed()
    assert list(df.columns) == ["school", "popular", "sex", "texp"]
    assert df.notna().all().all()


@pytest.mark.parametrize("incomplete", [False, True])
def test_impact_factor_levels(incomplete):
    df = datasets.load_impact(incomplete=incomplete)
    for col, levels in IMPACT_LEVELS.items():
        assert isinstance(df[col].dtype, pd.CategoricalDtype), col
        assert not df[col].cat.ordered, col
        assert list(df[col].cat.categories) == levels, col
    assert isinstance(df["name"].dtype, pd.CategoricalDtype)
    assert not df["name"].cat.ordered
    assert list(df["name"].cat.categories) == IMPACT_STUDIES
    assert pd.api.types.is_numeric_dtype(df["age"])
    for col in ["hypox", "hypots", "tsah", "edh", "mort"]:
        assert pd.api.types.is_numeric_dtype(df[col]), col
        assert set(df[col].dropna().unique()) <= {0, 1}, col
        assert df[col].dtype == ("int64" if df[col].notna().all() else "Int64"), col


def test_impact_complete_has_none_pupil_level():
    df = datasets.load_impact()
    assert df.notna().all().all()
    counts = df["pupil"].value_counts()
    assert counts["None"] > 0
    assert counts.sum() == len(df)
    for col in ["hypox", "hypots", "tsah", "edh", "mort"]:
        assert df[col].dtype == "int64", col


def test_impact_incomplete_missing_counts():
    df = datasets.load_impact(incomplete=True)
    assert df.isna().sum().to_dict() == IMPACT_INCOMPLETE_NA
    assert (df["pupil"] == "None").sum() > 0
    # systematic missingness
    assert df.loc[df["name"].isin(["SKB", "NABIS"]), "ct"].isna().all()
    assert df.loc[df["name"] == "HIT I", "pupil"].isna().all()
    assert df.loc[df["name"] == "SLIN", ["tsah", "edh"]].isna().all().all()


def test_impact_incomplete_agrees_with_complete_where_observed():
    full = datasets.load_impact()
    inc = datasets.load_impact(incomplete=True)
    for col in full.columns:
        observed = inc[col].notna()
        a = inc.loc[observed, col]
        b = full.loc[observed, col]
        if isinstance(a.dtype, pd.CategoricalDtype):
            assert (a.astype(str).to_numpy() == b.astype(str).to_numpy()).all(), col
        else:
            assert (a.to_numpy(dtype=float) == b.to_numpy(dtype=float)).all(), col


def test_obesity():
    df = datasets.load_obesity()
    assert df["Cluster"].dtype == "int64"
    assert list(df["Gender"].cat.categories) == ["Female", "Male"]
    assert list(df["FamOb"].cat.categories) == ["no", "yes"]
    for col in ["Time", "Height", "Age", "Weight", "BMI"]:
        assert df[col].dtype == "float64", col
    assert df.loc[df["Cluster"] == 3, "Weight"].isna().all()
    assert (df["Cluster"] == 3).sum() > 0
    assert df.loc[df["Cluster"] != 3, "Weight"].notna().any()
    assert (df["Weight"].isna() == df["BMI"].isna()).all()


def test_ipdna():
    df = datasets.load_ipdna()
    assert df["centre"].dtype == "int64"
    for col in ["gender", "afib"]:
        assert isinstance(df[col].dtype, pd.CategoricalDtype), col
        assert list(df[col].cat.categories) == ["0", "1"], col
    for col in ["bmi", "age", "sbp", "dbp", "hr", "lvef", "bnp"]:
        assert df[col].dtype == "float64", col
    assert df["afib"].isna().sum() == 550
    assert df["bnp"].isna().sum() == 8931


def test_chem97():
    df = datasets.load_chem97()
    assert df["School"].dtype == "int64"
    assert list(df["Sex"].cat.categories) == ["F", "M"]
    for col in ["Age", "GSCE", "Score"]:
        assert df[col].dtype == "float64", col
    expected_na = {"School": 0, "Sex": 524, "Age": 1018, "GSCE": 567, "Score": 0}
    assert df.isna().sum().to_dict() == expected_na


def test_data_sets_load_through_the_adapter():
    lines = Path(datasets.__file__).read_text().splitlines()
    assert not [line for line in lines if line.startswith(("import pandas", "from pandas"))]
    assert not [line for line in lines if "pd." in line]


def test_read_csv_declared_types():
    text = b"g,k,n,x,s\nb,None,1,2,u\na,NA,NA,3,v\nb,One,0,4,NA\n"
    df = frames_in.read_csv(io.BytesIO(text), categories={"g": frames_in.FIRST_APPEARANCE,
                                                        "k": ("Both", "One", "None"),
                                                        "s": None},
                          integers=("n",), floats="rest")
    assert list(df.g.cat.categories) == ["b", "a"]
    assert list(df.k.cat.categories) == ["Both", "One", "None"]
    assert df.k.isna().tolist() == [False, True, False]  # only NA is missing, None a level
    assert list(df.s.cat.categories) == ["u", "v"]
    assert df.n.dtype == "Int64" and df.n.tolist()[::2] == [1, 0]
    assert df.x.dtype == "float64" and df.x.tolist() == [2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match=r"column 'k': values \['Two'\] not in"):
        frames_in.read_csv(io.BytesIO(b"k\nTwo\nOne\n"), categories={"k": ("One",)})

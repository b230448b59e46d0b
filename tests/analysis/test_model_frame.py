"""Model frames against R: model.matrix column names and values, lme4's lFormula random
designs, grouping levels and na.omit rows (golden values made by
tests/r/model_frame_reference.R into tests/data/model_frame_reference.json)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxmice._src.adapters.frames_in import formula_columns
from jaxmice._src.analysis.formula import parse_formula
from jaxmice._src.analysis.model_frame import ColumnData, ModelFrame, ModelFrameError, model_frame

REFERENCE = json.loads(
    (Path(__file__).parents[1] / "data" / "model_frame_reference.json").read_text())

# the data set of tests/r/model_frame_reference.R
DATA = {
    "y": [1.5, -0.3, 2.2, 0.8, 1.1, -1.4, 0.6, 2.9, -0.5, 1.7, 0.2, 1.0],
    "x": [-1.2, 0.5, 2.1, 0.0, 1.3, -0.7, 0.9, 1.8, -2.0, 0.4, 1.1, -0.3],
    "z": [0.5, 1.2, 3.4, 2.2, 0.8, 1.9, 4.1, 2.7, 0.3, 1.5, 2.9, 3.6],
    "f": ["c", "a", "b", "a", "c", "b", "b", "a", "c", "a", "b", "c"],
    "h": ["mid", "lo", "hi", "hi", "lo", "mid", "lo", "mid", "hi", "lo", "hi", "mid"],
    "b": [True, False, False, True, True, False, True, False, True, True, False, False],
    "g": [2, 2, 2, 10, 10, 10, 1, 1, 1, 3, 3, 3],
    "g1": ["a", "a", "a", "a", "a", "a", "b", "b", "b", "b", "b", "b"],
    "g2": [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3],
}
N = 12


def frame() -> pd.DataFrame:
    df = pd.DataFrame(DATA)
    df["h"] = pd.Categorical(df["h"], categories=["lo", "mid", "hi"], ordered=True)
    return df


def build(text: str, df: pd.DataFrame | None = None, **kwargs) -> ModelFrame:
    f = parse_formula(text)
    return model_frame(f, formula_columns(frame() if df is None else df, f.variables()),
                       **kwargs)


def test_reference_data_is_the_literal_data():
    ref = pd.DataFrame(REFERENCE["data"])
    for name, values in DATA.items():
        assert ref[name].tolist() == values, name


@pytest.mark.parametrize("case", REFERENCE["model_matrices"], ids=lambda c: c["formula"])
def test_fixed_design_matches_model_matrix(case):
    r_names, lme4_names = case["names"], case["lme4_names"]
    r_matrix = np.asarray(case["matrix"], dtype=float).reshape(N, len(r_names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = build(case["formula"])
    # lme4 keeps the same columns after its rank check
    assert list(mf.fixed_names) == lme4_names
    assert list(mf.dropped) == [n for n in r_names if n not in lme4_names]
    # before the rank check the columns are R's model.matrix, in its order
    assert [n for n in r_names if n not in mf.dropped] == list(mf.fixed_names)
    columns = [r_names.index(n) for n in mf.fixed_names]
    np.testing.assert_allclose(mf.x[0], r_matrix[:, columns], rtol=1e-12, atol=1e-12)
    assert mf.x.shape == (1, N, len(lme4_names))
    np.testing.assert_allclose(mf.y[0], DATA["y"])
    assert mf.rows.all() and mf.response == "y" and mf.response_levels is None


def test_contrast_rules_and_values():
    mf = build("y ~ x*f")
    assert mf.fixed_names == ("(Intercept)", "x", "fb", "fc", "x:fb", "x:fc")
    np.testing.assert_allclose(mf.x[0, 0], [1, -1.2, 0, 1, 0, -1.2])  # row 1: f = c
    np.testing.assert_allclose(mf.x[0, 2], [1, 2.1, 1, 0, 2.1, 0])  # row 3: f = b
    assert build("y ~ 0 + f").fixed_names == ("fa", "fb", "fc")
    assert build("y ~ x:f").fixed_names == ("(Intercept)", "x:fa", "x:fb", "x:fc")
    assert build("y ~ x + x:f").fixed_names == ("(Intercept)", "x", "x:fb", "x:fc")
    assert build("y ~ b").fixed_names == ("(Intercept)", "bTRUE")
    # ordered factors get treatment contrasts too
    assert build("y ~ h").fixed_names == ("(Intercept)", "hmid", "hhi")
    mf = build("y ~ log(z) + I(x^2) + scale(x) + sqrt(z)")
    x = np.asarray(DATA["x"])
    np.testing.assert_allclose(mf.x[0, :, 1], np.log(DATA["z"]))
    np.testing.assert_allclose(mf.x[0, :, 2], x ** 2)
    np.testing.assert_allclose(mf.x[0, :, 3], (x - x.mean()) / x.std(ddof=1))


def dense_z(design) -> np.ndarray:
    """lme4's Z (levels major, the term's columns within a level) from codes and z."""
    n, q = design.z.shape[1:]
    out = np.zeros((n, len(design.levels) * q))
    for j in range(q):
        out[np.arange(n), design.codes * q + j] = design.z[0, :, j]
    return out


@pytest.mark.parametrize("case", REFERENCE["random"], ids=lambda c: c["formula"])
def test_random_designs_match_lme4(case):
    mf = build(case["formula"])
    findbars = case["findbars"]
    assert [t.label for t in parse_formula(case["formula"]).random] == findbars
    for label, design in zip(findbars, mf.random, strict=True):
        k = case["ztlist_names"].index(label)  # lme4 reorders terms by number of levels
        assert design.group == case["cnms_groups"][k]
        assert list(design.names) == case["cnms"][k]
        assert list(design.levels) == case["flist"][design.group]
        zt = np.asarray(case["z"][k], dtype=float).reshape(N, -1)
        np.testing.assert_allclose(dense_z(design), zt)
    assert list(mf.fixed_names) == case["x_names"]


def test_group_labels_and_levels_as_lme4():
    mf = build("y ~ x + (1 | g1/g2)")
    assert [d.group for d in mf.random] == ["g2:g1", "g1"]
    assert mf.random[0].levels == ("1:a", "1:b", "2:a", "2:b", "3:a", "3:b")
    np.testing.assert_array_equal(mf.random[0].codes, [0, 0, 2, 2, 4, 4, 1, 1, 3, 3, 5, 5])
    assert build("y ~ (1 | g1:g2)").random[0].levels == (
        "a:1", "a:2", "a:3", "b:1", "b:2", "b:3")
    # a numeric grouping column: levels sorted as numbers
    design = build("y ~ (1 | g)").random[0]
    assert design.levels == ("1", "2", "3", "10")
    np.testing.assert_array_equal(design.codes, [1, 1, 1, 3, 3, 3, 0, 0, 0, 2, 2, 2])
    # as.data.frame(VarCorr(fit))$grp: nested labels; || shows the second term as "g.1"
    assert REFERENCE["varcorr_nested"][:2] == ["g2:g1", "g1"]
    assert REFERENCE["varcorr_double_vert"][:2] == ["g", "g.1"]
    assert [d.group for d in build("y ~ (x || g)").random] == ["g", "g"]


def test_na_omit_matches_lme4():
    case = REFERENCE["na"]
    df = frame()
    df.loc[2, "x"] = np.nan
    df.loc[4, "f"] = None
    df.loc[6, "y"] = np.nan
    df.loc[8, "z"] = np.nan  # z is not in the formula: row 9 stays
    mf = build(case["formula"], df)
    np.testing.assert_array_equal(np.flatnonzero(mf.rows) + 1, case["rows"])
    assert list(mf.fixed_names) == case["x_names"]
    # scale(x) uses every observed x, as R evaluates it before na.omit
    np.testing.assert_allclose(mf.x[0], np.asarray(case["x"]), rtol=1e-12)
    assert mf.y.shape == (1, 9) and mf.random[0].codes.shape == (9,)
    assert mf.random[0].z.shape == (1, 9, 1)


def test_grouping_factor_missing_is_an_error():
    df = frame()
    df["g"] = df["g"].astype("Float64")
    df.loc[[0, 5], "g"] = pd.NA
    with pytest.raises(ModelFrameError, match="grouping factor 'g' has 2 missing value"):
        build("y ~ x + (1 | g)", df)


def test_unknown_column_names_close_matches():
    with pytest.raises(ValueError, match=r"unknown column 'xx'; did you mean 'x'"):
        build("y ~ xx")
    f = parse_formula("y ~ xx")
    with pytest.raises(ModelFrameError, match=r"unknown column 'xx'.*did you mean 'x'"):
        model_frame(f, {"y": ColumnData(np.zeros((1, 3))), "x": ColumnData(np.zeros((1, 3)))})


def test_rank_deficient_columns_are_dropped_with_a_warning():
    with pytest.warns(UserWarning, match=r"rank deficient so dropping 1 column / coefficient: "
                      r"I\(2 \* x\)"):
        mf = build("y ~ x + I(2 * x) + z")
    assert mf.fixed_names == ("(Intercept)", "x", "z") and mf.dropped == ("I(2 * x)",)
    with pytest.warns(UserWarning, match=r"dropping 2 columns / coefficients: I\(x \+ 1\), "
                      r"I\(x - z\)"):
        mf = build("y ~ x + z + I(x + 1) + I(x - z)")
    assert mf.dropped == ("I(x + 1)", "I(x - z)")
    assert mf.x.shape == (1, N, 3)


def batch_frames() -> list[pd.DataFrame]:
    rng = np.random.default_rng(3)
    frames = []
    for _ in range(3):
        df = frame()
        df["x"] = rng.normal(size=N)
        df["y"] = rng.normal(size=N)
        df["f"] = rng.choice(["a", "b", "c"], size=N)
        df.loc[0, "f"] = "a"  # every level present in every member
        df.loc[1, "f"] = "b"
        df.loc[2, "f"] = "c"
        frames.append(df)
    return frames


def stack(frames: list[pd.DataFrame], names) -> dict[str, ColumnData]:
    per = [formula_columns(df, names) for df in frames]
    return {n: ColumnData(np.concatenate([p[n].values for p in per]), per[0][n].levels,
                          per[0][n].ordered) for n in names}


def test_batch_equals_separate_calls():
    text = "y ~ scale(x) * f + h + (1 + x | g) + (0 + f | g1)"
    f = parse_formula(text)
    frames = batch_frames()
    frames[1].loc[5, "x"] = np.nan  # rows missing in one member are dropped in all
    batched = model_frame(f, stack(frames, f.variables()))
    assert batched.x.shape[0] == 3 and batched.rows.sum() == N - 1
    for k, df in enumerate(frames):
        one = model_frame(f, formula_columns(df, f.variables()))
        if k == 1:
            np.testing.assert_array_equal(one.rows, batched.rows)
        keep = batched.rows[one.rows]
        assert one.fixed_names == batched.fixed_names
        # scale() is per member, over each member's observed x
        j = batched.fixed_names.index("scale(x)")
        np.testing.assert_allclose(batched.x[k, :, j], one.x[0, keep, j])
        np.testing.assert_allclose(batched.x[k], one.x[0, keep])
        np.testing.assert_allclose(batched.y[k], one.y[0, keep])
        for bd, od in zip(batched.random, one.random, strict=True):
            assert bd.names == od.names and bd.levels == od.levels
            np.testing.assert_array_equal(bd.codes, od.codes[keep])
            np.testing.assert_allclose(bd.z[k], od.z[0, keep])


def test_unused_levels_give_zero_columns_or_are_dropped():
    df = frame().iloc[:10].copy()
    df["f"] = pd.Categorical(np.where(df["f"] == "c", "b", df["f"]),
                             categories=["a", "b", "c"])
    df["g"] = np.repeat([1, 2, 3, 4, 5], 2)
    with pytest.warns(UserWarning, match="dropping 1 column / coefficient: fc"):
        mf = build("y ~ x + f + (0 + f | g)", df)
    assert mf.fixed_names == ("(Intercept)", "x", "fb")
    assert mf.random[0].names == ("fa", "fb", "fc")
    np.testing.assert_array_equal(mf.random[0].z[0, :, 2], 0)
    # lme4's lFormula drops unused levels first (checked in R: X = (Intercept) x fb,
    # cnms fa fb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mf = build("y ~ x + f + (0 + f | g)", df, drop_unused_levels=True)
    assert mf.fixed_names == ("(Intercept)", "x", "fb") and mf.dropped == ()
    assert mf.random[0].names == ("fa", "fb")


def test_transforms_of_factors_and_out_of_domain_are_errors():
    with pytest.raises(ModelFrameError, match=r"term 'log\(f\)'.*factor 'f'"):
        build("y ~ log(f)")
    with pytest.raises(ModelFrameError, match=r"term 'I\(f\^2\)'"):
        build("y ~ I(f^2)")
    with pytest.raises(ModelFrameError, match=r"term 'log\(x\)': 5 value\(s\) are not positive"):
        build("y ~ log(x)")
    with pytest.raises(ModelFrameError, match=r"term 'sqrt\(x\)': 4 value\(s\) are negative"):
        build("y ~ sqrt(x)")
    with pytest.raises(ModelFrameError, match=r"term 'I\(z/x\)' is not finite"):
        build("y ~ I(z/x)")
    np.testing.assert_allclose(build("y ~ sqrt(abs(x))").x[0, :, 1],
                               np.sqrt(np.abs(DATA["x"])))


def test_missing_columns_and_no_rows_are_errors():
    df = frame()
    df["y"] = np.nan
    with pytest.raises(ModelFrameError, match="column 'y' is entirely missing"):
        build("y ~ x", df)
    df = frame()
    df.loc[::2, "y"] = np.nan
    df.loc[1::2, "x"] = np.nan
    with pytest.raises(ModelFrameError, match="no rows left"):
        build("y ~ x", df)


def test_factor_response_and_grouping_that_varies_in_the_batch():
    mf = build("f ~ x")
    assert mf.response == "f" and mf.response_levels == ("a", "b", "c")
    np.testing.assert_array_equal(mf.y[0], [2, 0, 1, 0, 2, 1, 1, 0, 2, 0, 1, 2])
    f = parse_formula("y ~ x + (1 | g)")
    frames = batch_frames()
    frames[2].loc[0, "g"] = 3
    with pytest.raises(ModelFrameError, match="grouping factor 'g' differs"):
        model_frame(f, stack(frames, f.variables()))


def test_formula_columns_dtypes():
    df = pd.DataFrame({
        "i01": [0, 1, 1, 0],
        "n": pd.array([1, None, 3, 4], dtype="Int64"),
        "b": [True, False, True, True],
        "nb": pd.array([True, None, False, True], dtype="boolean"),
        "c": pd.Categorical([2, 1, None, 2], categories=[2, 1]),
        "cf": pd.Categorical([1.0, 2.5, 1.0, 2.5]),
        "o": pd.Categorical(["lo", "hi", "lo", "hi"], categories=["lo", "hi"], ordered=True),
        "s": ["b", None, "a", "b"],
    })
    cols = formula_columns(df, list(df.columns))
    assert cols["i01"].levels is None
    np.testing.assert_array_equal(cols["i01"].values, [[0, 1, 1, 0]])
    np.testing.assert_array_equal(cols["n"].values, [[1, np.nan, 3, 4]])
    assert cols["b"].levels == ("FALSE", "TRUE")
    np.testing.assert_array_equal(cols["b"].values, [[1, 0, 1, 1]])
    assert cols["nb"].levels == ("FALSE", "TRUE")
    np.testing.assert_array_equal(cols["nb"].values, [[1, np.nan, 0, 1]])
    assert cols["c"].levels == ("2", "1") and not cols["c"].ordered
    np.testing.assert_array_equal(cols["c"].values, [[0, 1, np.nan, 0]])
    assert cols["cf"].levels == ("1", "2.5")
    assert cols["o"].levels == ("lo", "hi") and cols["o"].ordered
    assert cols["s"].levels == ("a", "b")
    np.testing.assert_array_equal(cols["s"].values, [[1, np.nan, 0, 1]])
    with pytest.raises(ValueError, match="column 'v' has 1 infinite value"):
        formula_columns(pd.DataFrame({"v": [1.0, np.inf]}), ["v"])
    with pytest.raises(ValueError, match=r"unknown column 'ii01'; did you mean 'i01'"):
        formula_columns(df, ["ii01"])

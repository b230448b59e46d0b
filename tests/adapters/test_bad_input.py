"""Bad input at the adapter, tried as a new user would: clear, early errors naming the column,
warnings that name the values, and absurd imputations logged per variable."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.adapters import frames_in
from jaxmice._src.adapters.frames_in import encode
from jaxmice._src.core.checks import DataWarning, extreme_rows, robust_z, spread_events


# ----- empty frames ---------------------------------------------------------------------------
def test_frame_without_columns_is_refused():
    with pytest.raises(ValueError, match=r"the data have no columns \(0 rows\)"):
        encode(pd.DataFrame())
    with pytest.raises(ValueError, match="the data have no columns"):
        jm.mice(pd.DataFrame(), m=1, maxit=1, progress=False)


def test_frame_without_rows_is_refused_naming_its_columns():
    df = pd.DataFrame({"age": pd.Series([], dtype=float), "sex": pd.Series([], dtype=int)})
    with pytest.raises(ValueError, match=r"no rows: column\(s\) \['age', 'sex'\] are empty"):
        encode(df)
    with pytest.raises(ValueError, match=r"no rows: column\(s\) \['age', 'sex'\]"):
        jm.mice(df, m=1, maxit=1, progress=False)


# ----- object columns -------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "type_name"), [({"a": 1}, "dict"), ([1, 2], "list")])
def test_unreadable_object_values_are_refused(value, type_name):
    s = pd.Series([None, "a", value, "b"], dtype=object, index=list("pqrs"))
    df = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0], "notes": s}, index=list("pqrs"))
    with pytest.raises(TypeError, match=rf"column 'notes' holds {type_name} values \(e.g. row "
                                        r"'r'\)"):
        encode(df)


def test_one_text_value_among_numbers_warns_naming_it():
    df = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
                       "dose": pd.Series([1, 2, "ten", 4, 5, np.nan], dtype=object)})
    with pytest.warns(DataWarning, match=r"column 'dose' looks numeric but holds the text "
                                         r"value\(s\) \['ten'\] in 1 row\(s\) \(e.g. \[2\]\)"):
        _, observed, schema = encode(df)
    assert schema["dose"].kind == "nominal"  # then treated as categorical, as before
    assert schema["dose"].levels == (1, 2, "ten", 4, 5)  # unsortable: order of appearance
    assert observed[:, 1].sum() == 5


def test_text_among_numbers_read_from_csv_warns():
    text = "y,dose\n1.5,1\n2.5,2\nNA,ten\n3.5,4\n4.5,5\n"
    df = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=["NA"])
    with pytest.warns(DataWarning, match=r"'dose'.*\['ten'\]"):
        _, _, schema = encode(df)
    assert schema["dose"].levels == ("1", "2", "4", "5", "ten")


@pytest.mark.parametrize("series", [
    pd.Series(["a", "b", "a", None], dtype=object),  # all text
    pd.Series(["1", "2", "3", None], dtype=object),  # all numbers as text
    pd.Series([1, 2, 3, None], dtype=object),  # numbers in an object column
    pd.Series(["3", "1/2", "5/6", "1/2"], dtype=object),  # text is not the minority
    pd.Series([True, False, None, True], dtype=object),
])
def test_no_warning_for_plain_text_or_numbers(series):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encode(pd.DataFrame({"v": series}))


# ----- extreme magnitudes ---------------------------------------------------------------------
def test_robust_z_numbers():
    np.testing.assert_allclose(robust_z(np.array([1.0, 2.0, 3.0, 4.0, 100.0])),
                               np.array([-2.0, -1.0, 0.0, 1.0, 97.0]) / 1.4826, rtol=1e-12)
    # MAD 0: the standard deviation
    np.testing.assert_allclose(robust_z(np.array([0.0, 0.0, 0.0, 4.0])),
                               np.array([-0.0, 0.0, 0.0, 4.0]) / np.std([0.0, 0.0, 0.0, 4.0]))
    np.testing.assert_array_equal(robust_z(np.array([2.0, 2.0])), [0.0, 0.0])


def test_extreme_rows_finds_the_huge_value_only():
    rng = np.random.default_rng(3)
    x = rng.normal(size=1000)
    x[[17, 400]] = [1e300, -3e12]
    observed = np.ones(1000, bool)
    observed[400] = False  # a missing cell is never reported
    np.testing.assert_array_equal(extreme_rows(x, observed), [17])
    np.testing.assert_array_equal(extreme_rows(rng.standard_cauchy(1000), observed), [])
    zero_inflated = np.zeros(10_000)
    zero_inflated[:3] = [5e4, 7e4, 1e5]
    assert extreme_rows(zero_inflated, np.ones(10_000, bool)).size == 0


def _frame_with_huge_predictor(big: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    x, z = rng.normal(size=n), rng.normal(size=n)
    y = x + z + rng.normal(size=n)
    y[rng.random(n) < 0.3] = np.nan
    x[5], y[5] = big, np.nan  # the huge predictor in a row whose y is imputed
    z[7] = np.nan
    return pd.DataFrame({"y": y, "x": x, "z": z}, index=[f"id{k}" for k in range(n)])


def test_extreme_predictor_warns_naming_column_and_rows():
    df = _frame_with_huge_predictor(1e300)
    with pytest.warns(DataWarning, match=r"column 'x' has 1 value\(s\) of extreme magnitude "
                                         r"\(\|z\| > 1e\+06.*in row\(s\) \{'id5': 1e\+300\}"):
        encode(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encode(df.assign(x=np.arange(200.0)))


def test_absurd_imputations_are_logged_per_variable():
    df = _frame_with_huge_predictor(1e150)
    with pytest.warns(DataWarning, match="'x'"):
        imp = jm.mice(df, m=3, maxit=3, method="norm", seed=1, progress=False)
    events = imp.logged_events
    absurd = events[events.event == "imputations out of range"]
    assert absurd.variable.tolist() == ["y", "y", "y"]
    assert absurd.iteration.tolist() == [1, 2, 3]
    assert absurd.method.tolist() == ["norm"] * 3
    assert "in chains [1, 2, 3], against observed values in [-5.137, 4.619]" in \
        absurd.detail.iloc[0]
    assert np.abs(imp.complete(0).y).max() > 1e140  # the numbers themselves are unchanged
    ok = jm.mice(df.assign(x=df.x.where(df.x < 1e6, 0.5)), m=3, maxit=3, method="norm",
                 seed=1, progress=False)
    assert not (ok.logged_events.event == "imputations out of range").any()


def test_spread_events_numbers():
    values = np.array([[0.0, 1.0], [10.0, 0.0], [5.0, 1.0]])
    observed = np.array([[True, True], [True, True], [False, True]])
    _, _, schema = encode(pd.DataFrame({"a": [0.0, 10.0, np.nan], "b": [1, 0, 1]}))
    mean = np.array([[5.0], [1e5], [-9.0e3]])  # 3 chains, tracked column a
    var = np.array([[4.0], [1.0], [1.0]])
    events = spread_events(4, schema, ("norm", ""), values, observed, (0,), mean, var)
    assert len(events) == 1
    assert events[0]["iteration"] == 4 and events[0]["variable"] == "a"
    assert events[0]["event"] == "imputations out of range"
    assert events[0]["detail"].startswith("chain mean up to 1e+05 and SD up to 1 in chains "
                                          "[2], against observed values in [0, 10]")
    var[0, 0] = 1e9  # SD 31623 > 1e3 * range 10
    assert "chains [1, 2]" in spread_events(1, schema, ("norm", ""), values, observed, (0,),
                                            mean, var)[0]["detail"]
    assert spread_events(1, schema, ("norm", ""), values, observed, (0,), mean[:1],
                         var[:1] * 0 + 4.0) == []


# ----- one policy -----------------------------------------------------------------------------
def test_formula_columns_and_encoded_columns_agree():
    df = pd.DataFrame({
        "i01": [0, 1, 1, 0], "f": [0.5, np.nan, 2.0, 1.0], "b": [True, False, True, True],
        "s": ["b", None, "a", "b"], "c": pd.Categorical(["x", "y", None, "x"]),
        "n": pd.array([1, None, 3, 4], dtype="Int64"),
    })
    direct = frames_in.formula_columns(df, list(df.columns))
    values, observed, schema = encode(df)
    via_arrays = frames_in.array_columns(np.where(observed, values, np.nan)[None], schema,
                                       list(df.columns))
    for name in df.columns:
        np.testing.assert_array_equal(direct[name].values, via_arrays[name].values)
        assert direct[name].levels == via_arrays[name].levels, name
    names, numbers, coded = frames_in.numeric_matrix(df)
    assert coded.tolist() == [False, False, True, True, True, False]
    np.testing.assert_array_equal(numbers[:, 0], [0, 1, 1, 0])
    np.testing.assert_array_equal(numbers[:, 3], [1, np.nan, 0, 1])

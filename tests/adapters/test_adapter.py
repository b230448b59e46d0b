"""The pandas adapter: frame -> arrays -> frame round trips, kind inference, input checks, and
the cluster index (every row's cluster, the cluster sizes)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxmice._src.adapters import frames_in
from jaxmice._src.adapters.frames_in import encode
from jaxmice._src.adapters.frames_out import decode
from jaxmice._src.core.checks import DataWarning
from jaxmice._src.core.clusters import build_cluster_index

SETTINGS = settings(max_examples=40, deadline=None)

DTYPES = (
    "float64", "int64", "int64_01", "Int64", "Int64_01", "bool", "boolean", "object",
    "string", "category", "ordered", "category_int",
)  # fmt: skip
if isinstance(pd.Series([""], dtype="str").dtype, pd.StringDtype):  # pandas >= 3 default strings
    DTYPES += ("str",)

WORDS = st.text(alphabet="abcXYZ é-", min_size=0, max_size=4)


def _with_na(vals: list, missing: np.ndarray, na: object) -> list:
    return [na if m else v for v, m in zip(vals, missing, strict=True)]


# ----- strategies -----------------------------------------------------------------------------
@st.composite
def indexes(draw, n: int) -> pd.Index:
    """RangeIndex, shuffled/offset int index, string index or DatetimeIndex of length n."""
    kind = draw(st.sampled_from(["range", "int", "str", "datetime"]))
    if kind == "range":
        start = draw(st.integers(0, 5))
        return pd.RangeIndex(start, start + n)
    if kind == "int":
        labels = draw(st.lists(st.integers(-10**6, 10**6), min_size=n, max_size=n, unique=True))
        return pd.Index(labels, dtype="int64")
    if kind == "str":
        labels = draw(st.lists(st.text(alphabet="pqr", min_size=1, max_size=5), min_size=n,
                               max_size=n, unique=True))
        return pd.Index(labels)
    start = pd.Timestamp("2000-01-01") + pd.Timedelta(days=draw(st.integers(0, 9000)))
    return pd.date_range(start, periods=n, freq=draw(st.sampled_from(["D", "h", "MS"])))


@st.composite
def columns(draw, dtype: str, n: int) -> pd.Series:
    """One column of the given dtype with a random missing pattern (none for numpy dtypes)."""
    missing = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if dtype == "float64":
        vals = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n, max_size=n))
        return pd.Series(np.where(missing, np.nan, vals), dtype="float64")
    if dtype in ("int64", "int64_01", "Int64", "Int64_01"):
        low, high = (0, 1) if dtype.endswith("_01") else (-1000, 1000)
        vals = draw(st.lists(st.integers(low, high), min_size=n, max_size=n))
        if dtype.startswith("int"):
            return pd.Series(np.array(vals, dtype=np.int64))
        return pd.Series(pd.array(_with_na(vals, missing, None),
                                  dtype="Int64"))
    if dtype in ("bool", "boolean"):
        vals = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        if dtype == "bool":
            return pd.Series(np.array(vals, dtype=bool))
        return pd.Series(pd.array(_with_na(vals, missing, None),
                                  dtype="boolean"))
    if dtype in ("object", "string", "str"):
        words = draw(st.lists(WORDS, min_size=1, max_size=5, unique=True))
        vals = [words[k] for k in draw(st.lists(st.integers(0, len(words) - 1), min_size=n,
                                                 max_size=n))]
        if dtype in ("object", "str"):  # "str": pandas' default string dtype (NaN missing)
            return pd.Series(_with_na(vals, missing, np.nan), dtype=dtype)
        return pd.Series(pd.array(_with_na(vals, missing, None),
                                  dtype="string"))
    # categoricals: some categories may stay unused
    if dtype == "category_int":
        cats = draw(st.lists(st.integers(-50, 50), min_size=1, max_size=5, unique=True))
    else:
        cats = draw(st.lists(st.text(alphabet="klmn", min_size=1, max_size=3), min_size=1,
                             max_size=5, unique=True))
    used = draw(st.integers(1, len(cats)))
    codes = np.array(draw(st.lists(st.integers(0, used - 1), min_size=n, max_size=n)))
    codes[missing] = -1
    return pd.Series(pd.Categorical.from_codes(codes, categories=cats,
                                               ordered=dtype == "ordered"))


@st.composite
def frames(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 20))
    kinds = draw(st.lists(st.sampled_from(DTYPES), min_size=1, max_size=6))
    df = pd.DataFrame({f"c{j}_{kind}": draw(columns(kind, n)) for j, kind in enumerate(kinds)})
    df.index = draw(indexes(n))
    return df


# ----- round trips ----------------------------------------------------------------------------
@pytest.mark.filterwarnings(f"ignore::{DataWarning.__module__}.{DataWarning.__name__}")
@SETTINGS
@given(frames())
def test_round_trip(df):
    values, observed, schema = encode(df)
    assert values.shape == observed.shape == df.shape
    assert values.dtype == np.float64 and observed.dtype == bool
    np.testing.assert_array_equal(observed, df.notna().to_numpy())
    assert np.isfinite(values).all()
    assert (values[~observed] == 0).all()
    for j, col in enumerate(schema.columns):
        if col.levels is not None:  # codes 0 .. K-1
            codes = values[observed[:, j], j]
            assert ((codes >= 0) & (codes < col.n_levels) & (codes == np.round(codes))).all()
    out = decode(values, schema, observed)
    pd.testing.assert_frame_equal(out, df, check_dtype=True, check_index_type=True,
                                  check_column_type=True, check_categorical=True, check_exact=True)


@pytest.mark.filterwarnings(f"ignore::{DataWarning.__module__}.{DataWarning.__name__}")
@SETTINGS
@given(frames(), st.integers(0, 2**32 - 1))
def test_filled_cells_decode_to_the_users_dtype(df, seed):
    """What ``complete()`` does: missing cells filled with valid values come back in the
    user's dtype (nullable kin for numpy int/bool), observed cells unchanged."""
    rng = np.random.default_rng(seed)
    values, observed, schema = encode(df)
    present = observed.copy()
    for j, col in enumerate(schema.columns):
        fill = ~observed[:, j]
        if col.levels is None:
            values[fill, j] = rng.integers(-5, 5, fill.sum())  # integral: int dtypes survive
            present[:, j] = True
        elif col.n_levels:
            values[fill, j] = rng.integers(0, col.n_levels, fill.sum())
            present[:, j] = True
    out = decode(values, schema, present)
    for j, name in enumerate(df.columns):
        assert out[name].dtype == df[name].dtype, name
        keep = observed[:, j]
        pd.testing.assert_series_equal(out[name][keep], df[name][keep])
        assert out[name][present[:, j]].notna().all()


@pytest.mark.parametrize("index", [
    pd.RangeIndex(3), pd.Index([10, 3, 7]), pd.Index(["a", "b", "c"]),
    pd.date_range("2020-01-01", periods=3), pd.Index(["a", "a", "b"]),
])
def test_round_trip_index_kinds(index):
    df = pd.DataFrame({"x": [1.0, np.nan, 2.0], "s": pd.Series(["u", np.nan, "v"], dtype=object),
                       "k": pd.Categorical(["p", None, "q"], categories=["q", "p", "r"])},
                      index=index)
    values, observed, schema = encode(df)
    pd.testing.assert_frame_equal(decode(values, schema, observed), df)


def test_round_trip_object_none_and_entirely_missing_columns():
    df = pd.DataFrame({
        "none": pd.Series(["a", None, "b"], dtype=object),
        "all_nan_object": pd.Series([np.nan] * 3, dtype=object),
        "all_na_string": pd.Series([None] * 3, dtype="string"),
        "all_nan_float": [np.nan] * 3,
        "all_na_int": pd.array([None] * 3, dtype="Int64"),
    })
    values, observed, schema = encode(df)
    pd.testing.assert_frame_equal(decode(values, schema, observed), df)


# ----- kinds ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("series", "kind", "levels"), [
    (pd.Series([0, 1, 1, 0]), "binary", (0, 1)),
    (pd.Series(pd.array([0, None, 1, 1], dtype="Int64")), "binary", (0, 1)),
    (pd.Series([1, 2, 3, 1]), "continuous", None),
    (pd.Series([0.0, 1.0, np.nan, 1.0]), "continuous", None),
    (pd.Series([1.5, 2.0, np.nan, 3.0]), "continuous", None),
    (pd.Series([True, False, True, True]), "binary", (False, True)),
    (pd.Series(pd.array([True, None, False, True], dtype="boolean")), "binary", (False, True)),
    (pd.Series(pd.Categorical(["a", "b", None, "a"])), "binary", ("a", "b")),
    (pd.Series(pd.Categorical(["lo", "hi", "lo", None], categories=["lo", "hi"],
                              ordered=True)), "binary", ("lo", "hi")),
    (pd.Series(pd.Categorical(["a", "b", "c", None])), "nominal", ("a", "b", "c")),
    (pd.Series(pd.Categorical(["a", "b", None, "a"], categories=["a", "b", "z"])), "nominal",
     ("a", "b", "z")),
    (pd.Series(pd.Categorical(["lo", "mid", "hi", None], categories=["lo", "mid", "hi"],
                              ordered=True)), "ordinal", ("lo", "mid", "hi")),
    (pd.Series(["b", "a", "c", None], dtype="string"), "nominal", ("a", "b", "c")),
    (pd.Series(["b", "a", "c", np.nan], dtype=object), "nominal", ("a", "b", "c")),
    (pd.Series(["yes", "no", np.nan, "no"], dtype=object), "binary", ("no", "yes")),
])
def test_kind_inference(series, kind, levels):
    _, _, schema = encode(pd.DataFrame({"v": series}))
    assert schema["v"].kind == kind
    assert schema["v"].levels == levels


@pytest.mark.parametrize(("series", "kind", "levels"), [
    (pd.Series([3, 1, 2, 1]), "nominal", (1, 2, 3)),
    (pd.Series([3, 1, 2, 1]), "ordinal", (1, 2, 3)),
    (pd.Series([0, 1, 1, 0]), "continuous", None),
    (pd.Series([0.5, 2.0, np.nan, 0.5]), "binary", (0.5, 2.0)),
    (pd.Series(pd.Categorical(["a", "b", "c", None])), "ordinal", ("a", "b", "c")),
    (pd.Series(pd.Categorical(["a", "b", "a"])), "nominal", ("a", "b")),
    (pd.Series(["x", "y", "z"], dtype="string"), "ordinal", ("x", "y", "z")),
])
def test_kind_override(series, kind, levels):
    df = pd.DataFrame({"v": series, "other": [1.0] * len(series)})
    values, observed, schema = encode(df, kinds={"v": kind})
    assert schema["v"].kind == kind
    assert schema["v"].levels == levels
    assert schema["other"].kind == "continuous"
    pd.testing.assert_frame_equal(decode(values, schema, observed), df)


def test_kind_override_errors():
    df = pd.DataFrame({"cat": pd.Categorical(["a", "b", "c"]), "x": [1.0, 2.0, 3.0]})
    with pytest.raises(TypeError, match="'cat'.*cannot be continuous"):
        encode(df, kinds={"cat": "continuous"})
    with pytest.raises(ValueError, match="'cat'.*3 levels.*binary"):
        encode(df, kinds={"cat": "binary"})
    with pytest.raises(ValueError, match="'x'.*unknown kind 'fancy'"):
        encode(df, kinds={"x": "fancy"})
    with pytest.raises(ValueError, match="unknown column.*'nope'"):
        encode(df, kinds={"nope": "binary"})


# ----- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.inf, -np.inf])
@pytest.mark.parametrize("dtype", ["float64", "float32", "Float64"])
def test_non_finite_values_are_rejected(bad, dtype):
    df = pd.DataFrame({"fine": [1.0, 2.0, 3.0],
                       "weight": pd.Series([1.0, bad, np.nan]).astype(dtype)})
    with pytest.raises(ValueError, match=r"'weight'.*non-finite.*row\(s\) \[1\]"):
        encode(df)


def test_duplicate_column_names_are_rejected():
    df = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["a", "b", "a"])
    with pytest.raises(ValueError, match=r"duplicate column names: \['a'\]"):
        encode(df)


@pytest.mark.parametrize("series", [
    pd.Series(pd.to_timedelta([1, 2, None], unit="s")),
    pd.Series(pd.to_datetime(["2020-01-01", None, "2021-01-01"])),
    pd.Series(pd.date_range("2020-01-01", periods=3, tz="UTC")),
    pd.Series(pd.period_range("2020-01", periods=3, freq="M")),
    pd.Series([1 + 2j, 3j, 1.0]),
])
def test_unsupported_dtype_is_rejected(series):
    df = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "when": series})
    with pytest.raises(TypeError, match="'when' has dtype"):
        encode(df)


def test_not_a_frame_is_rejected():
    with pytest.raises(TypeError, match="DataFrame"):
        encode(np.zeros((3, 2)))


# ----- cluster index --------------------------------------------------------------------------
def _check_cluster_index(ci, codes):
    np.testing.assert_array_equal(ci.row_cluster, codes)
    np.testing.assert_array_equal(ci.sizes, np.bincount(codes, minlength=ci.n_clusters))
    assert ci.sizes.sum() == len(codes)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 4), st.integers(0, 300), st.integers(1, 5000)),
                min_size=1, max_size=40),
       st.integers(0, 2**32 - 1))
def test_cluster_index_property(sizes, seed):
    codes = np.repeat(np.arange(len(sizes)), sizes)
    codes = codes[np.random.default_rng(seed).permutation(len(codes))]
    labels = tuple(f"g{k}" for k in range(len(sizes)))
    ci = build_cluster_index("g", codes, labels)
    assert ci.n_clusters == len(sizes)
    _check_cluster_index(ci, codes)


@pytest.mark.parametrize("column", [
    pd.Series([3, 1, 3, 7, 1, 3]),
    pd.Series([0.5, 2.5, 0.5, 9.0, 2.5, 0.5]),
    pd.Series(["s", "b", "s", "z", "b", "s"], dtype=object),
    pd.Series(["s", "b", "s", "z", "b", "s"], dtype="string"),
    pd.Series(pd.Categorical(["s", "b", "s", "z", "b", "s"], categories=["u", "z", "s", "b"])),
])
def test_adapter_cluster_index_labels(column):
    df = pd.DataFrame({"y": np.arange(6.0), "school": column})
    df.index = list("abcdef")
    values, observed, schema = encode(df)
    ci = frames_in.cluster_index(values, observed, schema, "school")
    assert ci.name == "school"
    assert len(ci.labels) == ci.n_clusters == 3  # unused categories are not clusters
    np.testing.assert_array_equal(np.array(ci.labels, dtype=object)[ci.row_cluster],
                                  column.to_numpy(dtype=object))
    # labels as the user wrote them: an int column's clusters are ints (messages say
    # "cluster 3", not "cluster 3.0")
    assert {repr(v) for v in ci.labels} == {repr(v) for v in column.tolist()}
    _check_cluster_index(ci, ci.row_cluster)


@pytest.mark.parametrize("column", [
    pd.Series([1.0, np.nan, 2.0, 1.0]),
    pd.Series(pd.array([1, None, 2, 1], dtype="Int64")),
    pd.Series(["a", None, "b", "a"], dtype="string"),
    pd.Series(pd.Categorical(["a", None, "b", "a"])),
])
def test_cluster_column_with_missing_values_is_rejected(column):
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "school": column})
    values, observed, schema = encode(df)
    with pytest.raises(ValueError, match=r"cluster column 'school' has 1 missing value"):
        frames_in.cluster_index(values, observed, schema, "school")


def test_cluster_index_builds_no_padded_bands():
    """The methods read row_cluster and sizes only: the bands are built on request."""
    values, observed, schema = encode(pd.DataFrame({"g": [2, 0, 2, 1], "y": np.zeros(4)}))
    ci = frames_in.cluster_index(values, observed, schema, "g")
    assert [f.name for f in dataclasses.fields(ci)] == ["name", "labels", "row_cluster",
                                                         "sizes"]
    np.testing.assert_array_equal(ci.sizes, [1, 1, 2])



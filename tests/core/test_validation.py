"""Bad input fails early, with a message naming the column and the problem; and the helpers
that build a specification (make_predictor_matrix, make_method, quickpred)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice import methods
from jaxmice._src.adapters import frames_in
from jaxmice._src.core.specification import specify
from jaxmice.methods import Draw, Imputer, MethodInfo

N = 24


@pytest.fixture
def df() -> pd.DataFrame:
    """x complete; y continuous, b binary, c nominal with missing values; g a cluster id."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=N)
    y = x + rng.normal(size=N)
    y[:4] = np.nan
    b = pd.array((rng.random(N) > 0.5).astype(int), dtype="Int64")
    b[4:7] = pd.NA
    c = pd.Categorical(rng.choice(["p", "q", "r"], N))
    c[7:9] = np.nan
    return pd.DataFrame({"x": x, "y": y, "b": b, "c": c, "g": np.repeat(np.arange(4), N // 4)})


def run(df, **kwargs):
    return jm.mice(df, m=kwargs.pop("m", 1), maxit=kwargs.pop("maxit", 1), progress=False,
                   **kwargs)


def test_fixture_is_a_valid_specification(df):
    """The fixture itself passes validation, so the errors below come from what each test
    breaks."""
    values, observed, schema = frames_in.encode(df)
    assert [c.kind for c in schema.columns] == [
        "continuous", "continuous", "binary", "nominal", "continuous"]
    spec = specify(values, observed, schema)
    assert spec.methods == ("", "pmm", "logreg", "polyreg", "")


# ----- methods --------------------------------------------------------------------------------
def test_unknown_method(df):
    with pytest.raises(ValueError, match=r"column 'y': unknown method 'foo'; known methods"):
        run(df, method={"y": "foo"})


@pytest.mark.parametrize(("column", "method", "kind"), [
    ("y", "logreg", "continuous"), ("y", "polr", "continuous"), ("y", "polyreg", "continuous"),
    ("c", "norm", "nominal"), ("c", "pmm", "nominal"), ("c", "logreg", "nominal"),
    ("b", "norm", "binary"),
])
def test_method_cannot_take_the_columns_kind(df, column, method, kind):
    with pytest.raises(ValueError, match=rf"'{method}' cannot impute column '{column}' of kind "
                                         rf"{kind}"):
        run(df, method={column: method})


def test_one_method_name_for_all_columns_is_checked_per_column(df):
    with pytest.raises(ValueError, match="'norm' cannot impute column 'b' of kind binary"):
        run(df, method="norm")


def test_cluster_code_in_a_single_level_row_suggests_a_2l_method(df):
    with pytest.raises(ValueError, match=r"column 'y'.*-2.*'g'.*single-level.*'2l\.pmm'"):
        run(df, method={"y": "pmm"}, predictor_matrix={"y": {"g": -2}})
    with pytest.raises(ValueError, match=r"column 'b'.*-2.*'g'.*single-level.*'2l\.bin'"):
        run(df, method={"b": "logreg"}, predictor_matrix={"b": {"g": -2}})
    with pytest.raises(ValueError, match=r"column 'c'.*-2.*'g'.*single-level.*'2l\.polyreg'"):
        run(df, method={"c": "polyreg"}, predictor_matrix={"c": {"g": -2}})


def test_columns_with_a_cluster_code_default_to_their_kinds_multilevel_method(df):
    pred = jm.make_predictor_matrix(df, cluster="g")
    assert jm.make_method(df, pred).to_dict() == {
        "x": "", "y": "2l.pmm", "b": "2l.bin", "c": "2l.polyreg", "g": ""}
    ordered = df.assign(c=df["c"].cat.as_ordered(),
                        n=pd.array([3, None, 0, 1, 7, 2] * 4, dtype="Int64"))
    pred = jm.make_predictor_matrix(ordered, cluster="g")
    assert jm.make_method(ordered, pred)[["c", "n"]].tolist() == ["2l.polr", "2l.pmm"]
    assert jm.make_method(ordered, pred, kinds={"n": "count"})["n"] == "2l.pois"
    # a count column is declared, never inferred
    imp = run(ordered, predictor_matrix=pred, kinds={"n": "count"})
    assert imp.method[["b", "c", "n"]].tolist() == ["2l.bin", "2l.polr", "2l.pois"]
    assert imp.schema["n"].kind == "count"


def test_method_type_errors(df):
    with pytest.raises(TypeError, match="column 'y' must be a string"):
        run(df, method={"y": 3})
    with pytest.raises(TypeError, match="method must be a name"):
        run(df, method=3)
    with pytest.raises(ValueError, match="method has 2 entries, expected 5"):
        run(df, method=["pmm", "pmm"])


def test_unknown_column_in_method(df):
    with pytest.raises(ValueError, match=r"method names unknown column\(s\) \['zz'\]"):
        run(df, method={"y": "pmm", "zz": "pmm"})


def test_unknown_method_option(df):
    with pytest.raises(ValueError, match=r"column 'y': method 'pmm' takes no option\(s\) "
                                         r"\['foo'\]"):
        run(df, method_options={"y": {"foo": 1}})


def test_method_options_for_unknown_or_non_imputed_column(df):
    with pytest.raises(ValueError, match=r"method_options names unknown column\(s\) \['zz'\]"):
        run(df, method_options={"zz": {"donors": 3}})
    with pytest.raises(ValueError, match="method_options given for column 'x', which is not "
                                         "imputed"):
        run(df, method_options={"x": {"donors": 3}})


# ----- data -----------------------------------------------------------------------------------
def test_column_entirely_missing(df):
    df["z"] = np.nan
    with pytest.raises(ValueError, match="column 'z' is entirely missing"):
        run(df)


def test_non_finite_values(df):
    df.loc[5, "x"] = -np.inf
    with pytest.raises(ValueError, match=r"column 'x' has non-finite values \(inf\)"):
        run(df)


def test_duplicate_column_names(df):
    df.columns = ["x", "y", "b", "x", "g"]
    with pytest.raises(ValueError, match=r"duplicate column names: \['x'\]"):
        run(df)


def test_unsupported_dtype(df):
    df["when"] = pd.date_range("2020-01-01", periods=N)
    with pytest.raises(TypeError, match="column 'when' has dtype datetime64"):
        run(df)


def test_kinds_errors(df):
    with pytest.raises(ValueError, match="column 'y': unknown kind 'fancy'"):
        run(df, kinds={"y": "fancy"})
    with pytest.raises(ValueError, match=r"kinds given for unknown column\(s\) \['zz'\]"):
        run(df, kinds={"zz": "binary"})
    with pytest.raises(TypeError, match="column 'c' holds categories.*cannot be continuous"):
        run(df, kinds={"c": "continuous"})


def test_where_must_be_boolean(df):
    with pytest.raises(TypeError, match="where must hold booleans"):
        run(df, where=np.zeros(df.shape, dtype=int))


# ----- predictor matrix -----------------------------------------------------------------------
def test_predictor_matrix_with_a_wrong_column_label(df):
    pred = jm.make_predictor_matrix(df).rename(columns={"x": "xx"})
    with pytest.raises(ValueError, match=r"predictor_matrix labels do not match.*column "
                                         r"label\(s\) \['xx'\]"):
        run(df, predictor_matrix=pred)


def test_predictor_matrix_with_a_wrong_row_label(df):
    pred = jm.make_predictor_matrix(df).rename(index={"c": "cc"})
    with pytest.raises(ValueError, match=r"unknown row label\(s\) \['cc'\]"):
        run(df, predictor_matrix=pred)


def test_predictor_matrix_dict_with_unknown_labels(df):
    with pytest.raises(ValueError, match="predictor_matrix names unknown row 'zz'"):
        run(df, predictor_matrix={"zz": {"x": 0}})
    with pytest.raises(ValueError, match="predictor_matrix row 'y' names unknown column 'zz'"):
        run(df, predictor_matrix={"y": {"zz": 0}})


def test_predictor_matrix_wrong_shape(df):
    with pytest.raises(ValueError, match=r"predictor_matrix has shape \(3, 3\), expected "
                                         r"\(5, 5\)"):
        run(df, predictor_matrix=np.zeros((3, 3), dtype=int))


@pytest.mark.parametrize("code", [7, -1, 5])
def test_predictor_matrix_code_not_allowed(df, code):
    pred = jm.make_predictor_matrix(df)
    pred.loc["y", "x"] = code
    with pytest.raises(ValueError, match=rf"predictor_matrix\['y', 'x'\] = {code} is not a "
                                         r"code; allowed codes"):
        run(df, predictor_matrix=pred)


def test_predictor_matrix_non_integer(df):
    pred = jm.make_predictor_matrix(df).astype(float)
    pred.loc["y", "x"] = 0.5
    with pytest.raises(ValueError, match="predictor_matrix must hold integer codes"):
        run(df, predictor_matrix=pred)


def test_predictor_matrix_nonzero_diagonal(df):
    pred = jm.make_predictor_matrix(df)
    pred.loc["y", "y"] = 1
    with pytest.raises(ValueError, match=r"column 'y' cannot predict itself \(diagonal"):
        run(df, predictor_matrix=pred)


def test_predictor_code_the_method_does_not_support(df):
    with pytest.raises(ValueError, match=r"column 'y': predictor code 2 .* for 'x' is not "
                                         r"supported by method 'pmm'"):
        run(df, predictor_matrix={"y": {"x": 2}})


# ----- counts, post, visit sequence -----------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "error", "message"), [
    (dict(m=0), ValueError, "m must be >= 1, got 0"),
    (dict(m=-3), ValueError, "m must be >= 1, got -3"),
    (dict(m=2.0), TypeError, "m must be an integer, got 2.0"),
    (dict(m="5"), TypeError, "m must be an integer, got '5'"),
    (dict(m=True), TypeError, "m must be an integer, got True"),
    (dict(maxit=-1), ValueError, "maxit must be >= 0, got -1"),
    (dict(maxit=1.5), TypeError, "maxit must be an integer, got 1.5"),
])
def test_counts(df, kwargs, error, message):
    with pytest.raises(error, match=message):
        run(df, **kwargs)


def test_post_for_a_column_that_is_not_imputed(df):
    with pytest.raises(ValueError, match="post given for column 'x', which is not imputed"):
        run(df, post={"x": lambda v: v})


def test_post_must_be_callable_and_name_a_column(df):
    with pytest.raises(TypeError, match="post for column 'y' must be a function"):
        run(df, post={"y": 3})
    with pytest.raises(ValueError, match="unknown column 'zz'"):
        run(df, post={"zz": lambda v: v})


def test_visit_sequence_naming_a_column_without_method(df):
    with pytest.raises(ValueError, match="visit_sequence lists column 'x', which has no "
                                         "imputation method"):
        run(df, visit_sequence=["y", "x"])
    with pytest.raises(ValueError, match="unknown column 'zz'"):
        run(df, visit_sequence=["zz"])
    with pytest.raises(ValueError, match="visit_sequence 'sideways' is not one of"):
        run(df, visit_sequence="sideways")


# ----- cluster column with missing values -----------------------------------------------------
def test_cluster_column_with_missing_values_adapter(df):
    df["g"] = df["g"].astype(float)
    df.loc[[2, 9], "g"] = np.nan
    values, observed, schema = frames_in.encode(df)
    with pytest.raises(ValueError, match=r"cluster column 'g' has 2 missing value\(s\)"):
        frames_in.cluster_index(values, observed, schema, "g")


@pytest.fixture
def two_level_method(monkeypatch):
    """A stand-in multilevel method (registered for one test only)."""
    def make(target):
        return Imputer(init=None, draw=lambda key, state, inputs: Draw(inputs.y, (), True))

    info = MethodInfo(name="test.2l", kinds=frozenset({"continuous"}), make=make,
                      needs_cluster=True)
    monkeypatch.setitem(methods._REGISTRY, info.name, info)
    return info.name


@pytest.mark.parametrize("g_method", ["", None])
def test_cluster_column_with_missing_values_mice(df, two_level_method, g_method):
    """Caught before the cluster column could be dropped as an incomplete predictor (method "")
    or imputed (default method)."""
    df = df[["x", "y", "g"]].astype({"g": float})
    df.loc[[2, 9], "g"] = np.nan
    method = {"y": two_level_method} | ({"g": g_method} if g_method is not None else {})
    with pytest.raises(ValueError, match=r"cluster column 'g' has 2 missing value\(s\)"):
        run(df, method=method, predictor_matrix=jm.make_predictor_matrix(df, cluster="g"))


def test_two_level_method_needs_exactly_one_cluster(df, two_level_method):
    with pytest.raises(ValueError, match=r"column 'y': method 'test.2l' needs exactly one "
                                         r"cluster variable"):
        run(df[["x", "y", "g"]], method={"y": two_level_method})


# ----- make_predictor_matrix ------------------------------------------------------------------
def test_make_predictor_matrix(df):
    pred = jm.make_predictor_matrix(df)
    names = list(df.columns)
    assert list(pred.index) == names and list(pred.columns) == names
    assert pred.dtypes.map(pd.api.types.is_integer_dtype).all()
    np.testing.assert_array_equal(pred.to_numpy(), 1 - np.eye(5, dtype=int))


def test_make_predictor_matrix_with_cluster(df):
    pred = jm.make_predictor_matrix(df, cluster="g")
    expected = 1 - np.eye(5, dtype=int)
    expected[:, 4] = -2
    expected[4, :] = 0
    np.testing.assert_array_equal(pred.to_numpy(), expected)
    assert (pred.loc["g"] == 0).all()
    assert (pred.drop(index="g")["g"] == -2).all()
    with pytest.raises(ValueError, match="unknown column 'zz'"):
        jm.make_predictor_matrix(df, cluster="zz")


# ----- make_method ----------------------------------------------------------------------------
def test_make_method_by_kind():
    frame = pd.DataFrame({
        "complete_float": [1.0, 2.0, 3.0, 4.0],
        "complete_cat": pd.Categorical(["a", "b", "c", "a"]),
        "float": [1.0, np.nan, 3.0, 4.5],
        "count": pd.array([1, 5, None, 2], dtype="Int64"),
        "int01": pd.array([0, 1, None, 1], dtype="Int64"),
        "flag": pd.array([True, None, False, True], dtype="boolean"),
        "two": pd.Categorical(["a", "b", None, "a"]),
        "three": pd.Categorical(["a", "b", None, "c"]),
        "ordered": pd.Categorical(["lo", None, "hi", "mid"], categories=["lo", "mid", "hi"],
                                  ordered=True),
        "text": pd.Series(["u", "v", "w", None], dtype="string"),
        "obj": pd.Series(["u", np.nan, "v", "w"], dtype=object),
    })
    expected = {
        "complete_float": "", "complete_cat": "", "float": "pmm", "count": "pmm",
        "int01": "logreg", "flag": "logreg", "two": "logreg", "three": "polyreg",
        "ordered": "polr", "text": "polyreg", "obj": "polyreg",
    }
    meth = jm.make_method(frame)
    assert isinstance(meth, pd.Series)
    assert meth.to_dict() == expected
    assert list(meth.index) == list(frame.columns)
    assert jm.make_method(frame, jm.make_predictor_matrix(frame)).to_dict() == expected


# ----- quickpred ------------------------------------------------------------------------------
NAN = np.nan
X2 = np.array([1, -1, 1, -1, -1, 1, 1, -1, -1, 1.0])


@pytest.fixture
def qp() -> pd.DataFrame:
    """y: missing in rows 0, 1; x1: equals y where y is observed (r = 1); x2: orthogonal to y
    and to y's missingness (r = 0 for both); w: constant where observed, missing exactly where
    x2 == 1 (so only the response indicator correlates, with x2: r = 1)."""
    return pd.DataFrame({
        "y": [NAN, NAN, 1, 2, 3, 4, 5, 6, 7, 8],
        "x1": [0.5, 0, 1, 2, 3, 4, 5, 6, 7, 8],
        "x2": X2,
        "w": np.where(X2 == 1, NAN, 5.0),
    })


def test_quickpred_hand_computed(qp):
    # the correlations the expectations rest on
    y_obs = ~qp["y"].isna()
    miss_y = qp["y"].isna().astype(float)
    miss_w = qp["w"].isna().astype(float)
    assert np.corrcoef(qp["y"][y_obs], qp["x1"][y_obs])[0, 1] == pytest.approx(1)
    assert np.corrcoef(qp["y"][y_obs], qp["x2"][y_obs])[0, 1] == pytest.approx(0, abs=1e-12)
    assert np.corrcoef(miss_y, qp["x2"])[0, 1] == pytest.approx(0, abs=1e-12)
    assert np.corrcoef(miss_w, qp["x2"])[0, 1] == pytest.approx(1)
    assert abs(np.corrcoef(miss_w, qp["x1"])[0, 1]) < 0.1  # 0.019
    assert np.corrcoef(miss_w[y_obs], qp["y"][y_obs])[0, 1] == pytest.approx(0, abs=1e-12)

    pred = jm.quickpred(qp)
    expected = pd.DataFrame(
        [[0, 1, 0, 0],   # y: x1 (r = 1) enters; x2 (r = 0) does not; w is constant
         [0, 0, 0, 0],   # x1 complete
         [0, 0, 0, 0],   # x2 complete
         [0, 0, 1, 0]],  # w: x2 through the response indicator; x1 (0.019) and y (0) not
        index=qp.columns, columns=qp.columns)
    pd.testing.assert_frame_equal(pred, expected, check_dtype=False)
    assert pred.dtypes.map(pd.api.types.is_integer_dtype).all()


def test_quickpred_include_exclude(qp):
    pred = jm.quickpred(qp, include=["x2"], exclude=["x1"])
    assert pred.loc["y"].tolist() == [0, 0, 1, 0]  # x2 forced in, x1 forced out
    assert pred.loc["w"].tolist() == [0, 0, 1, 0]
    assert (pred.loc[["x1", "x2"]] == 0).all().all()  # complete rows stay 0 even with include
    pred = jm.quickpred(qp, include=["w"])
    assert pred.loc["w", "w"] == 0  # never its own predictor
    assert pred.loc["y", "w"] == 1
    with pytest.raises(ValueError, match="unknown column 'zz'"):
        jm.quickpred(qp, include=["zz"])
    with pytest.raises(ValueError, match="unknown column 'zz'"):
        jm.quickpred(qp, exclude=["zz"])


def test_quickpred_mincor_and_minpuc():
    """x3 is y (r ~ 1) but missing in row 0, one of y's two missing rows: usable cases 1/2."""
    frame = pd.DataFrame({
        "y": [NAN, NAN, 1, 2, 3, 4, 5, 6, 7, 8],
        "x1": [0.5, 0, 1, 2, 3, 4, 5, 6, 7, 8],
        "x3": [NAN, 0, 1, 2, 3, 4, 5, 6, 7, 8],
    })
    assert jm.quickpred(frame).loc["y"].tolist() == [0, 1, 1]
    assert jm.quickpred(frame, minpuc=0.5).loc["y"].tolist() == [0, 1, 1]
    assert jm.quickpred(frame, minpuc=0.6).loc["y"].tolist() == [0, 1, 0]
    # x3's row: y is not observed in x3's missing row 0, so y's usable-case proportion is 0
    assert jm.quickpred(frame).loc["x3"].tolist() == [1, 1, 0]
    assert jm.quickpred(frame, minpuc=0.01).loc["x3"].tolist() == [0, 1, 0]
    # mincor is a strict threshold on max(|r|, |r with the response indicator|)
    assert jm.quickpred(frame, mincor=0.999).loc["y"].tolist() == [0, 1, 1]
    assert jm.quickpred(frame, mincor=1.5).loc["y"].tolist() == [0, 0, 0]


# ----- counts ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("values", "error", "message"), [
    ([1.0, -2.0, np.nan, 3.0], ValueError, r"column 'n' is declared a count but holds \[-2\.0\] "
                                           r"in row\(s\) \[1\]"),
    ([1.0, 2.5, np.nan, 3.0], ValueError, r"holds \[2\.5\] in row\(s\) \[1\].*whole number"),
    (pd.Categorical(["a", "b", None, "a"]), TypeError, "declared a count but holds categories"),
])
def test_a_declared_count_must_hold_non_negative_whole_numbers(values, error, message):
    frame = pd.DataFrame({"n": values, "x": [0.1, 0.2, 0.3, 0.4]})
    with pytest.raises(error, match=message):
        jm.make_method(frame, kinds={"n": "count"})


def test_a_count_column_keeps_its_dtype_and_whole_numbers():
    frame = pd.DataFrame({"n": pd.array([1, 4, None, 0, 2, None, 3, 1], dtype="Int64"),
                          "x": np.linspace(0, 1, 8)})
    imp = jm.mice(frame, m=2, maxit=1, kinds={"n": "count"}, seed=1, progress=False)
    assert imp.method["n"] == "pmm" and imp.schema["n"].kind == "count"
    done = imp.complete(1)["n"]
    assert done.dtype == "Int64" and done.notna().all()
    assert set(done[frame["n"].isna()]) <= {0, 1, 2, 3, 4}

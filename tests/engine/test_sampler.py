"""The chained-equations sampler through jm.mice: invariants, determinism, spec features."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice.methods import Draw, Imputer, MethodInfo, registered


def _frame(seed=0, n=300):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    y = 1 + 0.8 * x - 0.5 * z + rng.normal(scale=0.7, size=n)
    grp = pd.Categorical(rng.choice(["a", "b", "c"], size=n))
    flag = rng.binomial(1, 1 / (1 + np.exp(-x)))
    df = pd.DataFrame({"y": y, "x": x, "z": z, "grp": grp, "flag": flag.astype("int64")})
    for col, prop in (("y", 0.3), ("x", 0.2), ("grp", 0.15)):
        df.loc[rng.uniform(size=n) < prop, col] = np.nan
    df["flag"] = df["flag"].astype("Int64")
    df.loc[rng.uniform(size=n) < 0.1, "flag"] = pd.NA
    return df


@pytest.fixture(scope="module")
def df():
    return _frame()


@pytest.fixture(scope="module")
def imp(df):
    return jm.mice(df, m=3, maxit=3, seed=7, progress=False)


def test_default_methods_and_dtypes(df, imp):
    assert imp.method.to_dict() == {"y": "pmm", "x": "pmm", "z": "", "grp": "polyreg",
                                    "flag": "logreg"}
    done = imp.complete(1)
    assert done.notna().all().all()
    assert done.dtypes.to_dict() == df.dtypes.to_dict()
    assert list(done["grp"].cat.categories) == ["a", "b", "c"]
    assert done.index.equals(df.index)


def test_observed_values_never_change(df, imp):
    for k in range(imp.m):
        done = imp.complete(k)
        for col in df.columns:
            seen = df[col].notna()
            assert (done.loc[seen, col].astype(object) == df.loc[seen, col].astype(object)).all()


def test_same_seed_same_result_other_seed_different(df, imp):
    again = jm.mice(df, m=3, maxit=3, seed=7, progress=False)
    other = jm.mice(df, m=3, maxit=3, seed=8, progress=False)
    pd.testing.assert_frame_equal(again.complete("long"), imp.complete("long"))
    assert not other.complete("long").equals(imp.complete("long"))
    # the chains differ from each other too
    assert not imp.complete(0).equals(imp.complete(1))


def test_iterate_continues_the_same_chains(df, imp):
    longer = jm.mice(df, m=3, maxit=5, seed=7, progress=False)
    continued = imp.iterate(2)
    assert continued.iterations == 5 and imp.iterations == 3
    pd.testing.assert_frame_equal(continued.complete("long"), longer.complete("long"))
    pd.testing.assert_frame_equal(continued.chain_mean, longer.chain_mean)


def test_chain_mean_and_var(df, imp):
    cm, cv = imp.chain_mean, imp.chain_var
    assert cm.shape == (4 * 3, 3)  # 4 imputed variables x 3 iterations, 3 imputations
    assert list(cm.index.get_level_values("variable").unique()) == ["y", "x", "grp", "flag"]
    last = imp.complete(2)
    miss = df["y"].isna()
    assert np.isclose(cm.loc[("y", 3), 3], last.loc[miss, "y"].mean())
    assert np.isclose(cv.loc[("y", 3), 3], last.loc[miss, "y"].var())


def test_long_layout_and_export(df, imp, tmp_path):
    long = imp.complete("long")
    assert list(long.columns[:2]) == [".imp", ".id"]
    assert sorted(long[".imp"].unique()) == [1, 2, 3]
    assert long[".id"].tolist()[: len(df)] == list(range(1, len(df) + 1))
    assert len(imp.complete("all")) == 3
    imp.to_csv(tmp_path / "imp.csv")
    back = pd.read_csv(tmp_path / "imp.csv")
    assert len(back) == 4 * len(df) and sorted(back[".imp"].unique()) == [0, 1, 2, 3]
    assert back.loc[back[".imp"] == 0, "y"].isna().sum() == df["y"].isna().sum()
    imp.to_parquet(tmp_path / "imp.parquet")
    parquet = pd.read_parquet(tmp_path / "imp.parquet")
    assert parquet.shape == back.shape
    assert isinstance(parquet["grp"].dtype, pd.CategoricalDtype)


def test_where_over_imputes_only_chosen_cells(df):
    where = pd.DataFrame(False, index=df.index, columns=df.columns)
    where.loc[:9, "z"] = True  # observed cells, over-imputed
    imp = jm.mice(df, m=2, maxit=1, where=where, method={"z": "norm"}, seed=1,
                  progress=False)
    assert imp.method.to_dict() == {"y": "", "x": "", "z": "norm", "grp": "", "flag": ""}
    done = imp.complete(0)
    assert not np.allclose(done.loc[:9, "z"], df.loc[:9, "z"])
    pd.testing.assert_series_equal(done.loc[10:, "z"], df.loc[10:, "z"])
    assert done["y"].isna().sum() == df["y"].isna().sum()  # not imputed: stays missing
    assert "not a predictor" in set(imp.logged_events["event"])


def test_post_squeeze_and_visit_sequence(df):
    imp = jm.mice(df, m=2, maxit=2, method={"y": "norm"}, post={"y": jm.squeeze(0.5, 1.5)},
                  visit_sequence="monotone", seed=3, progress=False)
    imputed = imp.complete(0).loc[df["y"].isna(), "y"]
    assert imputed.min() >= 0.5 and imputed.max() <= 1.5
    order = [imp.schema.names[j] for j in np.asarray(imp.consts.visits.column)]
    assert order == ["flag", "grp", "x", "y"]  # fewest missing first
    with pytest.raises(ValueError, match="visit_sequence"):
        jm.mice(df, m=1, maxit=1, visit_sequence="sideways", progress=False)


def test_passive_imputation_recomputes_bmi():
    rng = np.random.default_rng(4)
    n = 200
    height = rng.normal(1.7, 0.1, n)
    weight = 22 * height**2 + rng.normal(0, 8, n)
    df = pd.DataFrame({"Height": height, "Weight": weight, "Age": rng.normal(40, 10, n)})
    df["BMI"] = df.Weight / df.Height**2
    gone = rng.uniform(size=n) < 0.3
    df.loc[gone, ["Weight", "BMI"]] = np.nan
    pred = jm.make_predictor_matrix(df)
    pred.loc["Weight", "BMI"] = 0  # no feedback from the passive column
    imp = jm.mice(df, m=2, maxit=2, predictor_matrix=pred,
                  method={"BMI": "~ I(Weight / Height^2)"}, seed=1, progress=False)
    done = imp.complete(1)
    np.testing.assert_allclose(done.BMI, done.Weight / done.Height**2)
    assert imp.method["BMI"] == "~ I(Weight / Height^2)"
    fn = jm.mice(df, m=2, maxit=2, predictor_matrix=pred, seed=1, progress=False,
                 method={"BMI": jm.passive(lambda d: d["Weight"] / d["Height"] ** 2)})
    pd.testing.assert_frame_equal(fn.complete(1), done)
    with pytest.raises(ValueError, match="passive expression .*unexpected character '_'"):
        jm.mice(df, method={"BMI": "~ __import__('os').system('true')"}, progress=False)
    with pytest.raises(ValueError, match="unknown column 'Wieght'"):
        jm.mice(df, method={"BMI": "~ Wieght / Height^2"}, progress=False)


def test_constant_and_collinear_predictors_are_dropped_and_logged():
    rng = np.random.default_rng(5)
    n = 150
    x = rng.normal(size=n)
    df = pd.DataFrame({"y": 2 * x + rng.normal(size=n), "x": x, "x2": 3 * x + 1,
                       "const": np.ones(n)})
    df.loc[:40, "y"] = np.nan
    imp = jm.mice(df, m=2, maxit=2, method="norm", seed=2, progress=False)
    log = imp.logged_events
    events = set(zip(log["variable"], log["event"], strict=True))
    assert ("y", "dropped constant predictor(s)") in events
    assert ("y", "dropped collinear predictor(s)") in events
    assert "x2" in " ".join(log.loc[log.event.str.contains("collinear"), "detail"])
    imputed = imp.complete(0).loc[:40, "y"]
    assert np.corrcoef(imputed, x[:41])[0, 1] > 0.8  # the kept predictor still works


def _broken(target):
    def draw(key, state, inputs):
        return Draw(values=jnp.full_like(inputs.y, jnp.nan), state=state, ok=jnp.array(True))
    return Imputer(init=None, draw=draw)


def test_user_registered_method_and_failure_reporting(df):
    broken = MethodInfo(name="test.broken", kinds=frozenset({"continuous"}), make=_broken)
    with registered(broken):  # the registry as it was afterwards: other tests count it
        assert "test.broken" in jm.available_methods()
        imp = jm.mice(df, m=2, maxit=2, method={"y": "test.broken"}, seed=1, progress=False)
    assert "test.broken" not in jm.available_methods()
    log = imp.logged_events
    failed = log[(log.variable == "y") & (log.event == "draw failed")]
    assert failed.iteration.tolist() == [1, 2]
    # the failed draws were not written: y keeps its initial (observed-value) fill
    done = imp.complete(0)
    assert done["y"].notna().all()
    assert set(np.round(done.loc[df.y.isna(), "y"], 10)) <= set(np.round(df.y.dropna(), 10))
    with pytest.raises(ValueError, match="already registered"):
        jm.register_method(MethodInfo(name="pmm", kinds=frozenset({"continuous"}),
                                      make=_broken))


def test_single_method_name_for_all_and_options(df):
    imp = jm.mice(df[["y", "x", "z"]], m=2, maxit=1, method="pmm",
                  method_options={"y": {"donors": 1}}, seed=1, progress=False)
    assert imp.method.tolist() == ["pmm", "pmm", ""]
    assert imp.complete(0).notna().all().all()


def test_compiled_once_per_shape_and_specification():
    """Iterations, imp.iterate() and a re-specified identical model reuse one program."""
    from jaxmice._src.engine import sampler

    rng = np.random.default_rng(9)
    n = 120
    df = pd.DataFrame({"h": rng.normal(1.7, 0.1, n), "w": rng.normal(70, 9, n)})
    df["bmi"] = df.w / df.h**2
    df.loc[:30, ["w", "bmi"]] = np.nan

    def run(seed):
        return jm.mice(df, m=2, maxit=3, method={"w": "norm", "bmi": "~ w / h^2"},
                       predictor_matrix={"w": {"bmi": 0}}, post={"w": jm.squeeze(30, 150)},
                       seed=seed, progress=False)

    before = sampler.iterate._cache_size()
    imp = run(1)
    after_first = sampler.iterate._cache_size()
    run(2).iterate(4)
    imp.iterate(1)
    assert after_first - before <= 1
    assert sampler.iterate._cache_size() == after_first


def _constant_method(value: float) -> MethodInfo:
    """A method imputing ``value`` everywhere, under one name whatever the value."""

    def make(target):
        def draw(key, state, inputs):
            return Draw(values=jnp.full_like(inputs.y, value), state=state, ok=jnp.array(True))
        return Imputer(init=None, draw=draw)

    return MethodInfo(name="test.constant", kinds=frozenset({"continuous"}), make=make)


def test_reregistered_method_does_not_reuse_the_old_program(df):
    """The plan holds the method itself, not its name: after ``register_method(...,
    overwrite=True)`` an otherwise equal plan compiles the new method."""
    from jaxmice import methods

    data = df[["y", "x", "z"]]
    spec = dict(m=2, maxit=2, method={"y": "test.constant", "x": "", "z": ""},
                predictor_matrix={"y": {"x": 0}}, seed=4, progress=False)
    try:
        for value in (1.0, 2.0):
            jm.register_method(_constant_method(value), overwrite=True)
            imp = jm.mice(data, **spec)
            for k in range(2):
                imputed = imp.complete(k).loc[data.y.isna(), "y"]
                assert len(imputed) > 0 and (imputed == value).all()
    finally:
        methods._REGISTRY.pop("test.constant", None)


def test_complete_data_come_back_unchanged():
    """Nothing to impute (R's mice then returns the data as they are): no visit, m copies of
    the data, for a single run and a batch alike."""
    df = pd.DataFrame({"x": np.arange(12.0), "y": np.arange(12.0) ** 2,
                       "g": pd.Categorical(list("abc") * 4)})
    imp = jm.mice(df, m=3, maxit=2, seed=1, progress=False)
    assert imp.iterations == 2 and len(imp.logged_events) == 0
    for k in range(3):
        pd.testing.assert_frame_equal(imp.complete(k), df)
    batch = jm.mice([df, df.head(7)], m=2, maxit=2, seed=1, progress=False)
    pd.testing.assert_frame_equal(batch[1].complete(1), df.head(7))

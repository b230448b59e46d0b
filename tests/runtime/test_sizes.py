"""Size classes (issue 24): padding a data set up to its size class changes nothing.

Every method imputes the same data twice, once at its exact size (``JAXMICE_SIZE_CLASSES=
exact``) and once padded to its class (rows to 64 or more, clusters to 8 or more): the random
draws are prefix-stable (threefry draws element i from the key and i alone), so the two runs
agree to rounding (1e-9) exactly when the padded rows and clusters weigh nothing anywhere:
cross products, counts, priors, donor pools, cluster means, meta-analyses, selection models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.runtime import sizes


def _frame(seed: int = 5, clusters: int = 6) -> pd.DataFrame:
    """57 rows in 6 clusters of unequal size: continuous, binary, count, ordinal, nominal
    and cluster-level columns, each partly missing (z for whole clusters)."""
    rng = np.random.default_rng(seed)
    sizes_ = rng.integers(7, 13, clusters)
    g = np.repeat(np.arange(1, clusters + 1), sizes_)
    n = len(g)
    u = rng.normal(0, 0.6, clusters)[g - 1]
    z_cluster = rng.normal(size=clusters)
    z = z_cluster[g - 1]
    x = rng.normal(size=n) + 0.5 * z
    t = rng.normal(size=n)
    y = 1 + 0.6 * x + 0.4 * z + u + rng.normal(size=n)
    b = (y + rng.normal(size=n) > 1.2).astype(float)
    c = rng.poisson(np.exp(0.3 + 0.3 * x)).astype(float)
    o = np.digitize(y + rng.normal(size=n), [0.5, 1.8]).astype(float)
    nm = rng.integers(0, 3, n).astype(float)
    df = pd.DataFrame({"g": g, "x": x, "t": t, "z": z, "y": y, "b": b, "c": c,
                       "o": pd.Categorical.from_codes(o.astype(int), ["lo", "mid", "hi"],
                                                      ordered=True),
                       "nm": pd.Categorical.from_codes(nm.astype(int), ["a", "b", "c"])})
    miss = rng.random((n, 5)) < 0.25
    for k, col in enumerate(["x", "y", "b", "c", "o"]):
        df.loc[miss[:, k], col] = np.nan
    df.loc[rng.random(n) < 0.2, "nm"] = np.nan
    df.loc[np.isin(g, [2, 5]), "z"] = np.nan
    return df


# (method, target column, kinds override, cluster coded -2, extra predictor codes)
CASES = [
    ("pmm", "y", False, {}), ("norm", "y", False, {}), ("norm.nob", "y", False, {}),
    ("norm.predict", "y", False, {}), ("mean", "y", False, {}), ("sample", "y", False, {}),
    ("logreg", "b", False, {}), ("polyreg", "nm", False, {}), ("polr", "o", False, {}),
    ("2l.pan", "y", True, {"x": 2}), ("2l.norm", "y", True, {}), ("2l.lmer", "y", True, {}),
    ("2l.pmm", "y", True, {"x": 3}), ("2l.bin", "b", True, {}), ("2l.polyreg", "nm", True, {}),
    ("2l.polr", "o", True, {}), ("2l.pois", "c", True, {}),
    ("2lonly.mean", "z", True, {}), ("2lonly.norm", "z", True, {}),
    ("2lonly.pmm", "z", True, {}), ("2lonly.polyreg", "nm", True, {}),
    ("2l.2stage.norm", "y", True, {}), ("2l.2stage.bin", "b", True, {}),
    ("2l.2stage.pois", "c", True, {}), ("2l.2stage.pmm", "y", True, {}),
    ("2l.heckman", "y", True, {"t": -3}), ("2l.heckman", "y", False, {"t": -3}),
]


def _impute(df: pd.DataFrame, method: str, target: str, cluster: bool, codes: dict):
    data = df.copy()
    if method == "2lonly.polyreg":  # a cluster-level nominal column
        levels = np.array(["a", "b", "c", "a", "b", "c"])[data["g"].to_numpy() - 1]
        data["nm"] = pd.Categorical(np.where(data["g"] == 3, None, levels), ["a", "b", "c"])
    data = data.assign(c=data["c"]) if method.endswith("pois") else data
    columns = ["g", "x", "t", "z", target] if target not in ("g", "x", "t", "z") else \
        ["g", "x", "t", "z"]
    data = data[list(dict.fromkeys(columns))]
    names = list(data.columns)
    pred = pd.DataFrame(0, index=names, columns=names)
    pred.loc[target, ["x", "z"] if target != "x" else ["z"]] = 1
    if target == "z":
        pred.loc[target, "z"] = 0
    for col, code in codes.items():
        pred.loc[target, col] = code
    if cluster:
        pred.loc[target, "g"] = -2
    kinds = {"c": {"c": "count"}, "b": {"b": "binary"}}.get(target)
    fixed = {col: "" for col in names if col != target}
    return jm.mice(data, m=2, maxit=2, method={**fixed, target: method}, predictor_matrix=pred,
                   seed=11, progress=False, kinds=kinds)


#: one method of each family runs in the default suite, the rest behind ``slow``
QUICK = {"pmm", "2l.pan", "2l.norm", "2l.bin", "2lonly.norm", "2l.2stage.norm", "2l.heckman"}


def _case(case: tuple) -> object:
    name = case[0] + ("" if case[2] or not case[0].startswith("2l") else "-nocluster")
    marks = () if case[0] in QUICK else (pytest.mark.slow,)
    return pytest.param(*case, id=name, marks=marks)


@pytest.mark.parametrize("method,target,cluster,codes", [_case(c) for c in CASES])
def test_padding_changes_nothing(method, target, cluster, codes, monkeypatch):
    df = _frame()
    monkeypatch.setenv("JAXMICE_SIZE_CLASSES", "exact")
    exact = _impute(df, method, target, cluster, codes)
    monkeypatch.setenv("JAXMICE_SIZE_CLASSES", "ladder")
    padded = _impute(df, method, target, cluster, codes)
    assert exact.consts.present.shape[0] == len(df)
    assert padded.consts.present.shape[0] == sizes.row_class(len(df)) > len(df)
    # 2l.heckman's meta-analyses run vmapped over its parameter blocks, where the study
    # count orders XLA's sums: rounding (1e-12 in the estimates, checked unvmapped to be
    # bit-exact) reaches the selection block's draws through the inverse Hessian of a Psi near
    # its boundary
    tol = 1e-2 if method == "2l.heckman" and cluster else 1e-9
    np.testing.assert_allclose(padded.completed_arrays, exact.completed_arrays, rtol=0,
                               atol=tol)
    np.testing.assert_allclose(padded.chain_mean.to_numpy(), exact.chain_mean.to_numpy(),
                               atol=tol)
    assert padded.logged_events.equals(exact.logged_events)


def test_data_sets_of_one_class_share_the_programs(monkeypatch):
    """Two data sets of different row and cluster counts in one class: one compile each of
    the sampler's start and iteration, and of the fit; a third of another class compiles
    again."""
    from jaxmice._src.runtime import programs

    monkeypatch.setenv("JAXMICE_COMPILATION_CACHE", "0")
    programs.clear_compiled()
    programs.reset_counts()
    first, other = _frame(5, clusters=6), _frame(7, clusters=9)
    second = pd.concat([first.iloc[:20], first.iloc[24:]])  # 4 rows fewer, as many clusters
    second = second.assign(g=np.where(second["g"] == 6, 7, second["g"]))  # other labels
    assert sizes.row_class(len(first)) == sizes.row_class(len(second))
    assert sizes.cluster_class(6) == 8 != sizes.cluster_class(9)
    for df in (first, second):
        imp = _impute(df, "2l.pan", "y", True, {"x": 2})
        imp.fit("y ~ x + z + (1 | g)")
    counts = programs.compile_counts()
    assert {k: v for k, v in counts.items() if v} == {
        "jaxmice._src.engine.sampler.initialize": 1, "jaxmice._src.engine.sampler.iterate": 1,
        "jaxmice._src.analysis.mixed._fit_lmm_batch": 1}
    _impute(other, "2l.pan", "y", True, {"x": 2})
    assert programs.compile_counts()["jaxmice._src.engine.sampler.iterate"] == 2


def test_a_batch_merges_row_classes_where_a_compile_costs_more_than_padding():
    """8, 694 and 298 data sets of 850, 1,000 and 1,100 rows (classes 896, 1,024, 1,280): at
    m x maxit = 50 the padding, 8 x 128 x 50 then 702 x 256 x 50 = 9.0e6 row-iterations, is
    below a compile (1.5e7), so all run at 1,280; at 100 the second merge (1.8e7) is not."""
    rows = [850] * 8 + [1000] * 694 + [1100] * 298
    assert sizes.merged_row_classes(rows, 50) == {896: 1280, 1024: 1280, 1280: 1280}
    assert sizes.merged_row_classes(rows, 100) == {896: 1024, 1024: 1024, 1280: 1280}
    assert sizes.merged_row_classes([1000] * 10_000 + [1100] * 10, 50) == {1024: 1024,
                                                                           1280: 1280}
    assert sizes.merged_row_classes([100, 120], 9) == {112: 128, 128: 128}


def test_exact_sizes_merge_nothing(monkeypatch):
    monkeypatch.setenv("JAXMICE_SIZE_CLASSES", "exact")
    assert sizes.merged_row_classes([100, 120], 9) == {100: 100, 120: 120}
